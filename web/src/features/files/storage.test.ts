import { describe, expect, it } from "vitest";
import { categoryOf, formatBytes, precheck, storageBar } from "./storage";

describe("storage bar", () => {
  const GiB = 1024 ** 3;
  it("fills in proportion, with a sliver for a little", () => {
    expect(storageBar(0, GiB)).toEqual({ percent: 0, level: "ok" });
    expect(storageBar(1, GiB)).toEqual({ percent: 1, level: "ok" });
    expect(storageBar(GiB / 2, GiB)).toEqual({ percent: 50, level: "ok" });
    expect(storageBar(GiB * 0.95, GiB)).toEqual({ percent: 95, level: "high" });
    expect(storageBar(GiB * 2, GiB)).toEqual({ percent: 100, level: "full" });
  });
  it("formats sizes", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatBytes(10 * 1024 * 1024)).toBe("10 MB");
    expect(formatBytes(1024 ** 3)).toBe("1 GB");
  });
});

describe("upload precheck", () => {
  it("refuses blocked extensions on any part and unknown types", () => {
    expect(precheck("notes.exe.pdf", 10)?.code).toBe("FILE_TYPE_NOT_ALLOWED");
    expect(precheck("script.js", 10)?.code).toBe("FILE_TYPE_NOT_ALLOWED");
    expect(precheck("README", 10)?.code).toBe("FILE_TYPE_NOT_ALLOWED");
    expect(precheck("photo.PNG", 10)).toBeNull();
  });
  it("applies the category limit", () => {
    expect(precheck("code.py", 3 * 1024 * 1024)).toEqual({ code: "FILE_TOO_LARGE", limit: 2 * 1024 * 1024 });
    expect(categoryOf("movie.mp4")).toBe("VIDEO");
  });
});
