export {
  type CharBatch,
  type CharDataset,
  type CharDatasetOptions,
  type CharVocabulary,
  charVocabulary,
  createCharDataset,
} from './char-dataset.js';
export { seededUniform } from './random.js';
