import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError, onUnauthorized, upload } from "./api-client";

/** Just enough XMLHttpRequest for upload(): the test drives progress and the answer. */
class FakeXhr {
  static last: FakeXhr | null = null;
  method = ""; url = ""; status = 0; statusText = ""; responseText = ""; withCredentials = false;
  headers: Record<string, string> = {};
  body: FormData | null = null;
  aborted = false;
  upload: { onprogress: ((event: { lengthComputable: boolean; loaded: number; total: number }) => void) | null } = { onprogress: null };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onabort: (() => void) | null = null;
  constructor() { FakeXhr.last = this; }
  open(method: string, url: string) { this.method = method; this.url = url; }
  setRequestHeader(name: string, value: string) { this.headers[name] = value; }
  send(body: FormData) { this.body = body; }
  abort() { this.aborted = true; this.onabort?.(); }
  answer(status: number, text: string) { this.status = status; this.responseText = text; this.onload?.(); }
}

const file = () => new File(["hello"], "notes.txt", { type: "text/plain" });
const sent = () => { const xhr = FakeXhr.last; if (!xhr) throw new Error("no request"); return xhr; };
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

beforeEach(() => {
  FakeXhr.last = null;
  vi.stubGlobal("XMLHttpRequest", FakeXhr);
  vi.stubGlobal("document", { cookie: "other=1; _xsrf=token%7C1" });
});
afterEach(() => vi.unstubAllGlobals());

describe("upload", () => {
  it("posts the file and the fields with the XSRF header, reports progress and returns the envelope's data", async () => {
    const progress: number[] = [];
    const result = upload<{ id: string }>("/api/studies/s1/files", file(), { fields: { folder: "week 1" }, onProgress: (f) => progress.push(f) });
    await tick();
    const xhr = sent();
    expect(xhr.method).toBe("POST");
    expect(xhr.url).toBe("/api/studies/s1/files");
    expect(xhr.headers["X-XSRFToken"]).toBe("token|1");
    expect(xhr.body?.get("folder")).toBe("week 1");
    expect((xhr.body?.get("file") as File).name).toBe("notes.txt");
    xhr.upload.onprogress?.({ lengthComputable: true, loaded: 50, total: 100 });
    xhr.answer(201, JSON.stringify({ success: true, data: { id: "f1" } }));
    expect((await result).data).toEqual({ id: "f1" });
    expect(progress).toEqual([0.5, 1]);
  });

  it("turns an error envelope into the same ApiError as the REST client, and tells UNAUTHORIZED listeners", async () => {
    const unauthorized = vi.fn();
    const off = onUnauthorized(unauthorized);
    const refused = upload("/api/users/me/avatar", file());
    await tick();
    sent().answer(400, JSON.stringify({ success: false, error: { code: "VALIDATION_ERROR", message: "bad", fields: { file: "too big" } } }));
    const error = await refused.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ code: "VALIDATION_ERROR", status: 400, fields: { file: "too big" } });

    const signedOut = upload("/api/users/me/avatar", file());
    await tick();
    sent().answer(401, JSON.stringify({ success: false, error: { code: "UNAUTHORIZED", message: "no session" } }));
    await expect(signedOut).rejects.toMatchObject({ code: "UNAUTHORIZED" });
    expect(unauthorized).toHaveBeenCalledTimes(1);
    off();
  });

  it("maps a body that is not JSON by status (a proxy's 413 is FILE_TOO_LARGE) and a network failure to NETWORK", async () => {
    const tooBig = upload("/api/studies/s1/files", file());
    await tick();
    sent().answer(413, "<html>Request Entity Too Large</html>");
    await expect(tooBig).rejects.toMatchObject({ code: "FILE_TOO_LARGE", status: 413 });

    const lost = upload("/api/studies/s1/files", file());
    await tick();
    sent().onerror?.();
    await expect(lost).rejects.toMatchObject({ code: "NETWORK" });
  });

  it("is cancelled by its signal with an AbortError, also before it starts", async () => {
    const controller = new AbortController();
    const cancelled = upload("/api/studies/s1/files", file(), { signal: controller.signal });
    await tick();
    controller.abort();
    expect(sent().aborted).toBe(true);
    await expect(cancelled).rejects.toMatchObject({ name: "AbortError" });

    FakeXhr.last = null;
    await expect(upload("/api/studies/s1/files", file(), { signal: controller.signal })).rejects.toMatchObject({ name: "AbortError" });
    expect(FakeXhr.last).toBeNull();
  });
});
