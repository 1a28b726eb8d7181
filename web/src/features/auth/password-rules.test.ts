import { describe, expect, it } from "vitest";
import { passwordAcceptable, passwordRules, strengthScore } from "./password-rules";

describe("password rules (COUP.md §5.4)", () => {
  it("accepts a long mixed password", () => {
    expect(passwordAcceptable("Secret-pass-123", "a@b.co")).toBe(true);
  });
  it("needs two character classes", () => {
    expect(passwordRules("abcdefghijkl", "a@b.co").classes).toBe(false);
  });
  it("scores common prefixes and triple repeats down", () => {
    expect(strengthScore("Password1")).toBe(1);
    expect(passwordRules("Passsword12", "a@b.co").common).toBe(false);
    expect(passwordAcceptable("Password1", "a@b.co")).toBe(false);
  });
  it("refuses the email address itself", () => {
    expect(passwordRules("Me@Example.com", "me@example.com").email).toBe(false);
  });
  it("needs a strength of 2: eight characters of two classes is not enough", () => {
    expect(passwordAcceptable("abcd1234", "a@b.co")).toBe(false);
    expect(passwordAcceptable("abcd1234efgh", "a@b.co")).toBe(true);
  });
});
