/**
 * The limits on memory, shared by the evaluator, dense linear algebra and the hierarchy: the one
 * budget and MemoryError live in io/memory.ts (below ir/, whose elaborator checks parameters and
 * data against the budget); re-exported here for the layers above.
 */
export { MemoryError, MAX_RESULT_BYTES, setMemoryBudget, memoryBudget, budgetSource, fmtBytes, parseBytes, overBudget, ensureMemory, resultLimit, ensureResult, BYTES_PER_VALUE, MAX_STRING_CHARS, type ResultSink } from '../io/memory.ts';
