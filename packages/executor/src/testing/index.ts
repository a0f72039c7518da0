export { type HandleTracker, type TrackedMethod, trackHandles } from '../tracking.js';
