export { ArmCpuState, S, NUM_SLOTS, EXIT_EXCEPTION, Excp, HWCAP } from './cpu-state.js';
export { ArmCpu } from './arm-cpu.js';
export { makeHelpers, type ArmHelpers } from './helpers.js';
export { translateArm, TB_FLAG_THUMB } from './translate/translate.js';
export { thumbExpandImm } from './translate/t32.js';
