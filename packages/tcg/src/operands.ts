// Which args of an IR op are written and which are read.
import { Op, type IrOp } from './ir.js';

// Operand positions are contiguous: outputs are args [0, nOut), inputs args
// [inStart, inEnd). Plain functions of the op (no arrays), so the passes that
// use them (optimiser, write-back planning) allocate nothing per op.

/** Number of written temps (args [0, n)). */
export function nOut(o: IrOp): number {
  switch (o.op) {
    case Op.st: case Op.br: case Op.brcond: case Op.label: case Op.gotoTb: case Op.exitTb: case Op.insnStart: return 0;
    case Op.mulu2: case Op.muls2: case Op.add2: case Op.sub2: return 2;
    case Op.call: return o.args[0]! >= 0 ? 1 : 0;
    default: return 1;
  }
}

/** Does `o` write temp `t`? */
export function writesTemp(o: IrOp, t: number): boolean {
  const n = nOut(o);
  for (let k = 0; k < n; k++) if (o.args[k] === t) return true;
  return false;
}

/** First read operand position. */
export function inStart(o: IrOp): number {
  switch (o.op) {
    case Op.st: case Op.brcond: return 0;
    case Op.mulu2: case Op.muls2: case Op.add2: case Op.sub2: case Op.call: return 2;
    default: return 1;
  }
}

/** One past the last read operand position. */
export function inEnd(o: IrOp): number {
  switch (o.op) {
    case Op.br: case Op.label: case Op.gotoTb: case Op.exitTb: case Op.insnStart: return 0;
    case Op.st: case Op.ld: case Op.brcond: return 2;
    case Op.setcond: return 3;
    case Op.movcond: return 5;
    case Op.mulu2: case Op.muls2: return 4;
    case Op.add2: case Op.sub2: return 6;
    default: return o.args.length;
  }
}
