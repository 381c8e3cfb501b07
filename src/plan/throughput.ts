/**
 * Training throughput per backbone shape on one H200, for GPU-hour estimates (an estimate only:
 * it assumes 128-token sequences, while dynamic padding makes GLUE batches shorter and faster).
 *
 * Measured entries are the reference measurements in docs/benchmarks.md (bf16, LoRA r 8 on q,v, sequence 128). Other shapes
 * are derived from roberta-large's measurement by parameter count (the work per sample grows with
 * the parameters), which under-estimates large models' utilisation: Llama-3-8B measured 62
 * samples/s where the derivation gives 39. Replace a derived entry when it is measured.
 */
export interface BackboneShape {
  id: string;
  /** Matched against backbone.name_or_path, case-insensitive. */
  match: RegExp;
  /** Parameters in billions. */
  parameters: number;
  trainSamplesPerSecond: number;
  /** Whether gradient checkpointing was on for that number. */
  checkpointing: boolean;
  /** Where the number comes from. */
  source: string;
}

const ROBERTA_LARGE_PARAMETERS = 0.355;
const ROBERTA_LARGE_SAMPLES_PER_SECOND = 877;
/** docs/benchmarks.md: RoBERTa-large trains at 400 samples/s with checkpointing, 877 without. */
export const CHECKPOINTING_SLOWDOWN = 400 / 877;
/** A forward pass is about a third of a training step's work. */
export const FORWARD_SPEEDUP = 3;

function derived(id: string, match: RegExp, parameters: number): BackboneShape {
  return {
    id,
    match,
    parameters,
    trainSamplesPerSecond: (ROBERTA_LARGE_SAMPLES_PER_SECOND * ROBERTA_LARGE_PARAMETERS) / parameters,
    checkpointing: false,
    source: "derived from roberta-large by parameter count",
  };
}

export const THROUGHPUT: BackboneShape[] = [
  {
    id: "roberta-large",
    match: /roberta-large/i,
    parameters: ROBERTA_LARGE_PARAMETERS,
    trainSamplesPerSecond: ROBERTA_LARGE_SAMPLES_PER_SECOND,
    checkpointing: false,
    source: "measured (docs/benchmarks.md, H200, batch 64)",
  },
  {
    id: "llama-3-8b",
    match: /llama-3-8b|llama3-8b|llama-3\.1-8b/i,
    parameters: 8.03,
    trainSamplesPerSecond: 62,
    checkpointing: true,
    source: "measured (docs/benchmarks.md, H200, batch 16)",
  },
  derived("roberta-base", /roberta-base/i, 0.125),
  derived("t5-large", /t5-large/i, 0.738),
  derived("llama-3.2-1b", /llama-3\.2-1b/i, 1.24),
  derived("llama-3.2-3b", /llama-3\.2-3b/i, 3.21),
];

export function shapeOf(nameOrPath: string): BackboneShape | undefined {
  return THROUGHPUT.find((shape) => shape.match.test(nameOrPath));
}

/** Training samples per second for this backbone with or without gradient checkpointing. */
export function trainThroughput(shape: BackboneShape, checkpointing: boolean): number {
  if (checkpointing === shape.checkpointing) return shape.trainSamplesPerSecond;
  return checkpointing ? shape.trainSamplesPerSecond * CHECKPOINTING_SLOWDOWN : shape.trainSamplesPerSecond / CHECKPOINTING_SLOWDOWN;
}
