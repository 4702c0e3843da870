export { parseSize, sizeToStr, formatIoSize } from './size.js';
export { parseOptionString, formatOptionValue } from './option-string.js';
export { isAllZero } from './zero.js';
export { cFixed, cGeneral } from './printf.js';
export { allocAlignedBuffer } from './aligned.js';
export { findZeroRuns } from './zero-runs.js';
export { parseCNumber, parseCInt64, cIntOption } from './c-number.js';
export { TRACE_EVENT_NAMES, TraceHelpRequested, TraceOptionError, openTraceFile, parseTraceOpt, type TraceWarn } from './trace-opt.js';
