import { describe, expect, it } from 'vitest';
import { warmUpTranslator } from '../src/warmup.js';

// The warm-up block must stay valid input for the passes as they change: it
// is optimised and turned into JavaScript that V8 must accept, and it keeps
// the paths it exists for (a self-loop, helper calls, the indirect-exit cache).
describe('translator warm-up', () => {
  it('yields parseable TB sources covering a self-loop, helpers and an indirect exit', () => {
    const [plain, looping] = warmUpTranslator({ pc: 'R[15]', flags: '0' });
    for (const src of [plain!, looping!]) {
      expect(() => new Function('R', 'm', 'H', 'umulh', 'smulh', 'divs', 'divu', 'SELF', 'CTR', 'X', 'INT', 'M8', 'S8', 'M16', 'S16', 'M32', 'NR', 'NW', src)).not.toThrow();
      expect(src).toMatch(/h0\(/);
      expect(src).toMatch(/SELF\.ind/);
    }
    expect(plain).not.toMatch(/continue loop/);
    expect(looping).toMatch(/continue loop/);
  });
});
