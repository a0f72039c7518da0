import { existsSync, readdirSync } from 'node:fs';
import { createTfjsEngine, type TfjsEngine, type WebGpuOptions } from './engine.js';
import { isTfjsBackendError } from './errors.js';

/** Whether Debian's (or another multiarch distribution's) Mesa EGL library is installed. */
export function hasMesaEgl(): boolean {
  const roots = ['/usr/lib', '/usr/lib64'];
  for (const root of roots) {
    if (!existsSync(root)) continue;
    if (existsSync(`${root}/libEGL_mesa.so.0`)) return true;
    for (const entry of readdirSync(root)) {
      if (entry.endsWith('-linux-gnu') && existsSync(`${root}/${entry}/libEGL_mesa.so.0`)) return true;
    }
  }
  return false;
}

/** What trying to start WebGPU gave: an engine, or the reason there is none. */
export interface WebGpuAttempt {
  readonly engine?: TfjsEngine;
  /** What was tried and what happened, in words. */
  readonly log: readonly string[];
}

/**
 * Try, once each: Dawn's default backend (Vulkan on Linux: a real GPU), then, only when Mesa's EGL library
 * is present, Mesa's llvmpipe through OpenGL ES (feature level 'compatibility', EGL_PLATFORM=surfaceless).
 * Installs nothing.
 */
export async function tryWebGpu(): Promise<WebGpuAttempt> {
  const log: string[] = [];
  const attempts: Array<{ readonly what: string; readonly options: WebGpuOptions; readonly gles: boolean }> =
    [
      { what: "Dawn's default backend, feature level core", options: {}, gles: false },
      {
        what: 'OpenGL ES (Mesa llvmpipe), feature level compatibility',
        options: { dawnOptions: ['backend=opengles'], featureLevel: 'compatibility' },
        gles: true,
      },
    ];
  for (const attempt of attempts) {
    if (attempt.gles) {
      if (!hasMesaEgl()) {
        log.push(`${attempt.what}: skipped, Mesa's EGL library (libEGL_mesa.so.0) is not installed`);
        continue;
      }
      process.env['EGL_PLATFORM'] ??= 'surfaceless';
    }
    try {
      const engine = await createTfjsEngine({ backend: 'webgpu', webgpu: attempt.options });
      log.push(`${attempt.what}: ${engine.description}`);
      return { engine, log };
    } catch (error) {
      if (!isTfjsBackendError(error)) throw error;
      log.push(`${attempt.what}: ${error.message}`);
    }
  }
  return { log };
}
