import { describe, expect, it } from "vitest";
import { afterFinalClose } from "./realtime";

const answer = (should_logout: boolean) => async () => ({ valid: !should_logout, should_logout });

describe("afterFinalClose (1008 and 4001 closes)", () => {
  it("signs out when validate-session says should_logout or the session is no longer valid", async () => {
    expect(await afterFinalClose("session revoked: USER_REVOKED", answer(true))).toBe("signOut");
    expect(await afterFinalClose("too many connections", answer(true))).toBe("signOut");
    // A sibling tab's request got the revoked answer first and the cookie is gone: NO_SESSION.
    expect(await afterFinalClose("session revoked: USER_REVOKED", async () => ({ valid: false, should_logout: false }))).toBe("signOut");
  });

  it("keeps a valid session when the server closed the oldest of too many tabs", async () => {
    expect(await afterFinalClose("too many connections", answer(false))).toBe("tooManyTabs");
    expect(await afterFinalClose("", answer(false))).toBe("tooManyTabs");
  });

  it("keeps the session on any other close of a valid session, and when the check itself fails", async () => {
    expect(await afterFinalClose("too many bad frames", answer(false))).toBe("disconnected");
    expect(await afterFinalClose("session revoked", async () => { throw new Error("offline"); })).toBe("disconnected");
  });
});
