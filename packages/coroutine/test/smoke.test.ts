import { expect, test } from 'vitest';
import { x } from '@tsemu/coroutine';
test('resolves', () => { expect(x).toBe(1); });
