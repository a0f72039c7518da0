export { type CpuProbe, type CpuReading, foreignMs, parseProcStat, processCpu } from './cpu.js';
export {
  type BenchCase,
  type CaseResult,
  DEFAULT_FOREIGN_CORES,
  DEFAULT_ROUNDS,
  type InterleaveOptions,
  interleave,
  pairedRatio,
  type Sample,
} from './interleave.js';
export { formatSummary, median, quantile, type Summary, summarize } from './stats.js';
