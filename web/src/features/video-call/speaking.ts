// The speaking indicator: a Web Audio AnalyserNode on a stream, polled a few times a second.
// `nextSpeaking` is the pure rule (two thresholds and a short hang-over, so the ring does not
// flicker between words); `watchSpeaking` wires it to a MediaStream.

export const SPEAKING_ON = 0.035; // RMS level that starts "speaking"
export const SPEAKING_OFF = 0.015; // and the level it must fall under to stop
export const HANGOVER_MS = 600;
const POLL_MS = 150;

export interface SpeakingState { speaking: boolean; lastLoudAt: number }

export function nextSpeaking(state: SpeakingState, level: number, now: number): SpeakingState {
  if (level >= SPEAKING_ON) return { speaking: true, lastLoudAt: now };
  if (level >= SPEAKING_OFF && state.speaking) return { speaking: true, lastLoudAt: now };
  if (state.speaking && now - state.lastLoudAt < HANGOVER_MS) return state;
  return state.speaking ? { speaking: false, lastLoudAt: state.lastLoudAt } : state;
}

/** Root mean square of time-domain samples (0 silence … 1 full scale). */
export function rms(samples: Uint8Array): number {
  let sum = 0;
  for (const sample of samples) { const v = (sample - 128) / 128; sum += v * v; }
  return samples.length ? Math.sqrt(sum / samples.length) : 0;
}

let sharedContext: AudioContext | null = null;

/** Calls `onChange` when the stream starts or stops carrying speech; returns the stop. */
export function watchSpeaking(stream: MediaStream, onChange: (speaking: boolean) => void): () => void {
  if (typeof AudioContext === "undefined" || stream.getAudioTracks().length === 0) return () => {};
  sharedContext ??= new AudioContext();
  const context = sharedContext;
  if (context.state === "suspended") void context.resume().catch(() => {});
  let source: MediaStreamAudioSourceNode;
  try {
    source = context.createMediaStreamSource(stream);
  } catch {
    return () => {};
  }
  const analyser = context.createAnalyser();
  analyser.fftSize = 512;
  source.connect(analyser);
  const samples = new Uint8Array(analyser.fftSize);
  let state: SpeakingState = { speaking: false, lastLoudAt: 0 };
  const timer = setInterval(() => {
    analyser.getByteTimeDomainData(samples);
    const next = nextSpeaking(state, rms(samples), Date.now());
    if (next.speaking !== state.speaking) onChange(next.speaking);
    state = next;
  }, POLL_MS);
  return () => {
    clearInterval(timer);
    source.disconnect();
    if (state.speaking) onChange(false);
  };
}
