export {
  type HandleCounts,
  type HandleTracker,
  type HandleTrackerV2,
  type TrackedMethod,
  type TrackedMethodV2,
  trackHandles,
  trackHandlesV2,
} from '../tracking.js';
