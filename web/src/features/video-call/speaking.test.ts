import { describe, expect, it } from "vitest";
import { HANGOVER_MS, nextSpeaking, rms, SPEAKING_ON } from "./speaking";

describe("speaking indicator", () => {
  it("starts on a loud frame, holds through short pauses and stops after the hang-over", () => {
    let state = { speaking: false, lastLoudAt: 0 };
    state = nextSpeaking(state, 0.01, 0);
    expect(state.speaking).toBe(false);
    state = nextSpeaking(state, SPEAKING_ON, 100);
    expect(state.speaking).toBe(true);
    state = nextSpeaking(state, 0.02, 200); // quieter but above the off threshold
    expect(state).toEqual({ speaking: true, lastLoudAt: 200 });
    state = nextSpeaking(state, 0, 200 + HANGOVER_MS - 1);
    expect(state.speaking).toBe(true);
    state = nextSpeaking(state, 0, 200 + HANGOVER_MS);
    expect(state.speaking).toBe(false);
  });

  it("measures silence as 0 and a full-scale square wave as 1", () => {
    expect(rms(new Uint8Array([128, 128, 128]))).toBe(0);
    expect(rms(new Uint8Array([0, 0]))).toBe(1);
  });
});
