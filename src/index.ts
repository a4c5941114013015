/**
 * ntk-lab's public API: the one surface that the command line and scripts use.
 *
 * @example
 *   import { loadModel, evaluate, jacobian, ntk } from 'ntk-lab';
 *   const model = loadModel('examples/converse.ntk', { set: { T: 1000 } });
 *   const h = evaluate(model);            // h(w0), flattened
 *   const J = jacobian(model);            // { rows: k, cols: p, data } row-major
 *   const K = ntk(model);                 // { rows: k, cols: k, data } = J Jᵀ
 */
import { useNormalPairs } from './io/rng.ts';
import { wasmNormalPairs } from './runtime/backend-wasm.ts';

// Large seeded normal draws (initial weights) through the wasm kernels: the same bits as the JS
// loop, faster; the front end (parser, ir, io) loads no backend itself.
useNormalPairs(wasmNormalPairs);

export type { Model, ParamInfo, DataInfo, Loss, TestInfo } from './ir/model.ts';
export type { Program } from './parser/ast.ts';
export { NtkError, formatDiagnostic, type Diagnostic } from './parser/diagnostics.ts';
export { Graph, type NodeId } from './ir/graph.ts';
export { Evaluator, type JacobianOptions } from './evaluator/evaluator.ts';
export { MemoryError } from './runtime/memory.ts';
export { setMemoryBudget, memoryBudget, parseBytes, ensureMemory, resultLimit, ensureResult, BYTES_PER_VALUE, MAX_STRING_CHARS, type ResultSink } from './runtime/memory.ts';
export { checkOutputPath, OutputPathError } from './io/atomic.ts';
export { compile as compilePlan, Plan } from './runtime/compile.ts';
export { jvp as jvpGraph } from './ad/jvp.ts';
export { vjp as vjpGraph } from './ad/transpose.ts';
export { transposeLinear } from './ad/transpose.ts';
export { vmap } from './ad/vmap.ts';
export { directional as directionalGraph, jvpFlat, vjpFlat, gradLoss, hvpLoss, lossGraph } from './ad/derivatives.ts';
export { printGraph, type PrintOptions } from './ir/print.ts';
export { tidy } from './ir/simplify.ts';
export { truncatedHierarchy, lossGradient, trueFlow, type TruncatedOptions, type TruncatedResult } from './nth/truncated.ts';
export { widthScaling, slopeFit, theorySlope, type ScalingOptions, type ScalingPoint, type SlopeFit } from './nth/scaling.ts';
export { fitLogLog, fitLine, type LogLogFit } from './math/fit.ts';
export { limitKernels, limitKernelsDense, nestedLimit, LIMIT_KERNEL_KEYS, type LimitOptions, type LimitReport, type LimitDense, type LimitReportOf, type DenseMatrix, type LimitMethod } from './nth/limit.ts';
export { gpPredict, ensemblePredict, gpPredictWorkingSet, ensembleWorkingSet, squareTargets, commonRate, type GpPredictOptions, type GpPrediction, type EnsembleOptions, type EnsemblePrediction } from './nth/gp-predict.ts';
export { writeKernelFiles } from './nth/limit-out.ts';
export { limitScaling, type LimitScalingOptions, type LimitScalingReport, type LimitScalingPoint } from './nth/limit-scaling.ts';
export { pairExpectation, expect1, atomMoment, atomFn, type GaussFn, type PairResult, type Expect1Result } from './math/gaussian.ts';
export {
  deriveKernel, deriveRowKernel, nonSmoothWarning, kernelGraph, kernelTensor, kernelHierarchy, checkKernelMemory, memoryLimit, MAX_ORDER, KernelUsageError,
  type KernelDerivation, type RowKernelDerivation, type KernelOptions, type KernelTensor, testView, type IndexSpace,
} from './nth/hierarchy.ts';
export { denseNtkBytes } from './nth/ntk.ts';
export { accuracyFrom, checkFlowStart, flow, flowWorkingSet, ensureFlowMemory, FlowError, FLOW_METHODS, NON_SMOOTH_ADVICE, type FlowOptions, type FlowResult, type FlowPoint, type FlowMethod } from './dynamics/flow.ts';
export { stepWatch, duration, type StepWatchOptions, type StepWatchState } from './dynamics/step-watch.ts';
export { boundsReport, kappa, type Bound, type BoundsReport, type BoundInputs } from './dynamics/bounds.ts';
export { LinearizedFlow, kernelSpectrum } from './dynamics/linearized.ts';
export { symmetricEigen } from './linalg/dense.ts';
export { gradientDescent, descentWorkingSet, type DescentOptions, type DescentResult } from './dynamics/descent.ts';
export {
  early, earlyWorkingSet, recognizeTwoLayer, gaussianMoments, constantMethods, earlyConstants, features, inputStats, EarlyUsageError,
  type EarlyOptions, type EarlyResult, type EarlyRow, type EarlyConstants, type ActivationMoments, type Activation, type TwoLayerForm, type InputStats, type ConstantMethods,
} from './nth/early.ts';
export { withRates, parseRates, ratesFor, kernelName, RateError, type Rates, type RatesInfo } from './ir/rates.ts';
export {
  linearizedTestPrediction,
  linearizedTestPredictor,
  crossKernelPrediction,
  crossKernelInputs,
  type CrossKernelInputs,
} from './dynamics/predict.ts';
export { parseProgram } from './parser/index.ts';
export { lipschitz, lipWorkingSet, LipUsageError, certifiedBounds, estimateEntries, type LipOptions, type LipPhase, type LipResult, type LipEstimate, type EnclosureResult } from './lip/index.ts';
export { availableBackends, defaultBackend } from './runtime/backends.ts';
export { vegaLiteSpec, flowPlotSpec, flowPlotTimes, sweepPlotSpec, scalingPlotSpec, limitScalingPlotSpec, predictionPlotSpec, distinctColors, type PlotSpec, type Series } from './plot/spec.ts';
// The language service (hover, go-to-definition, completion) of `ntk lsp` and the playground.
export { analyze, completions, definition, hover, symbolAt, type Analysis, type Completion, type SymbolInfo, type SymbolKind } from './lang/service.ts';
export type { Backend } from './runtime/backend.ts';
export type { KernelSpectrum } from './dynamics/linearized.ts';
export type { SymmetricEigen } from './linalg/dense.ts';
export type { ElaborateOptions } from './ir/elaborate.ts';
export type { EnclosureOptions } from './lip/enclosure.ts';
export type { Span } from './parser/ast.ts';
export type { Severity } from './parser/diagnostics.ts';
export { parse, compile, parseModel, loadModel, type ModelOptions } from './ir/load.ts';
export {
  type Matrix, type CompileOptions, evaluator, evaluate, evaluateTest, testLoss, jacobian, jvp, vjp, directionalDerivative, loss, hvp, ntk,
  printModel, kernel, hierarchy, printKernel, describeKernel, nth,
} from './api.ts';
export { AtomicFile, WriteError, writeFileAtomic } from './io/atomic.ts';
export { NpyWriter, npyHeader, writeNpy } from './io/npy.ts';
export { capNativeThreads } from './runtime/backend-native.ts';
export { kernelTile, tileRange, upperTiles, writeKernelTiles, moreTiles, tileCost, tileBytes, type KernelTile, type TileCost } from './nth/tiles.ts';
export { writeArrays, checkArrayOut, arrayPaths, arrayFormat, csvNumber, ARRAY_FORMATS, type ArrayFormat, type ResultArray, type WrittenFile } from './io/arrays.ts';
export {
  ClusterError, PLAN_FORMAT, planSweep, planKernelTiles, writePlan, readPlan, readShard, runTask, mergePlan, planStatus, indexFromEnv,
  redoCommand, compressIndices, shardDir, logPath, shellQuote,
  type Plan as ClusterPlan, type PlanSpec, type PlanTask, type SweepSpec, type TilesSpec, type TaskOutcome, type MergeOutcome, type PlanStatus, type TaskStatus, type TaskState,
} from './cluster/plan.ts';
export { slurmScripts, submitPlan, queuedTasks, submissions, which, type SlurmOptions, type SlurmScripts, type SubmitOutcome } from './cluster/slurm.ts';

// The studies: each command's work and its report, under the keys its --json prints (the CLI
// parses arguments, calls these, and formats their reports).
export { OptionError, modelWarnings, diagnosticJson, nest, formatNumber, type DiagnosticJson } from './studies/common.ts';
export {
  checkReport, evalReport, jacobianReport, kernelReport, kernelFileReport, deriveReport, printReport,
  type CheckReport, type EvalReport, type JacobianReport, type KernelReport, type KernelFileReport, type KernelReportOptions, type DeriveReport, type PrintReport,
} from './studies/model.ts';
// the NTK by Gram products (structured, no Jacobian; nth/gram.ts)
export { gramNtk, gramTile, gramStructure, NonFiniteKernelError, type GramStructure, type GramResult, type KernelStats } from './nth/gram.ts';
export { closedForm, mathjsText, modelClosedForms, kernelClosedForm, isScalarModel, MAX_CLOSED_FORM_TEXT, type ClosedForm, type ModelClosedForms } from './symbolic/closed-form.ts';
export { lipReport, type LipReport, type LipBracket, type LipStudyOptions } from './studies/lip.ts';
export { flowStudy, descentReport, FLOW_LIP_ENTRIES, type FlowStudyOptions, type FlowReport, type FlowLipEstimate, type DescentReport } from './studies/flow.ts';
export { nthReport, scalingStudy, type NthReport, type ScalingReport, type ScalingStudyOptions } from './studies/hierarchy.ts';
export { OUT_KEYS, checkOut, outPaths, sinkOf, guardResult, withFiles, vectorArray, matrixArray, tableArray, type OutOptions, type OutCommand } from './studies/out.ts';
export { limitReport, guardLimit, guardPredict, predictChecks, predictionFiles, type LimitFileReport } from './studies/limit.ts';
export { flowFiles, descentFiles, earlyFiles, guardEarly, FLOW_COLUMNS, EARLY_COLUMNS } from './studies/trajectories.ts';
export { runSweep, defaultWorkers, type SweepStudyOptions, type SweepOutcome } from './studies/sweep.ts';
export { grid, pointKey, sweepSeries, csvHeader, type SweepSeries, sweepPoint, sweepFingerprint, sweepFileText, toCsv, fromCsv, constantOf, type GridPoint, type SweepRow, type SweepOptions } from './dynamics/sweep.ts';
export { runWorkerRole } from './studies/workers.ts';
export { bundleFile } from './studies/threads.ts';
export { BackendUnavailableError } from './runtime/backends.ts';
// Types the signatures above refer to (so that scripts can name them, and the API reference has a page for each).
export type { MethodName } from './dynamics/solvers/index.ts';
export type { Reference } from './lang/service.ts';
export type { DenseFactorizations } from './runtime/backend.ts';
export type { Atom, AtomTerm, PairOptions } from './math/gaussian.ts';
export type { ParamInit } from './ir/model.ts';
