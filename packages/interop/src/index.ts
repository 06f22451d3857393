export {
  EXPORT_FILE_FORMATS,
  EXPORT_FORMAT,
  EXPORT_VERSION,
  type ExportBundle,
  type ExportFileFormat,
  type ExportMetadata,
  exportClustering,
  exportFeatureEmbeddings,
  type FeatureMeta,
  type MappingMeta,
  METADATA_KEY,
  readExport,
  reconstructEmbeddings,
  reconstructTable,
  type TableMeta,
  writeExport,
} from './export.js';
export { DEFAULT_IMPORT_TABLE_OPTIONS, type ImportTableOptions, importTable } from './import.js';
export {
  dequantized,
  layoutRecipe,
  TABLE_LAYOUTS,
  type TableExport,
  type TableLayoutName,
  type TableLayoutWriter,
} from './layouts.js';
export { EXPORTABLE_KINDS, exportFrom } from './source.js';
export {
  type Dtype,
  decodeNpy,
  decodeSafetensors,
  encodeNpy,
  encodeSafetensors,
  type Safetensors,
  type Tensor,
  type TensorData,
  tensor,
} from './tensor.js';
