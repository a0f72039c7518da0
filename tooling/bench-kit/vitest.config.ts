import { base } from '@rewind/vitest-config';

export default base;
