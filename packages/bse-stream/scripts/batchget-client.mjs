const [url, n] = [process.argv[2], 1000];
const ids = Array.from({ length: n }, (_, u) => `u${u}`);
let bytes = 0,
  requests = 0,
  users = 0;
await Promise.all(
  Array.from({ length: 8 }, async () => {
    let offset = 0;
    while (offset !== undefined) {
      const r = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ userIds: ids, offset }),
      });
      const text = await r.text();
      bytes += text.length;
      requests++;
      const j = JSON.parse(text);
      users += j.results.length;
      offset = j.nextOffset;
    }
  }),
);
console.log(JSON.stringify({ users, requests, bytes }));
