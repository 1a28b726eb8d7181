// Multipart upload with progress. fetch() reports no upload progress, so this one request uses
// XMLHttpRequest; it follows api-client's rules (XSRF header, envelope, ApiError). It can move
// into lib/api-client.ts as `api.upload` when a second feature needs it (the room's files tab).
import { ApiError } from "../../lib/api-client";

function xsrfCookie(): string | null {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === "_xsrf") return decodeURIComponent(rest.join("="));
  }
  return null;
}

async function xsrfToken(): Promise<string> {
  const cookie = xsrfCookie();
  if (cookie) return cookie;
  const response = await fetch("/api/auth/csrf", { credentials: "same-origin" });
  return (await response.json()).data.xsrf_token as string;
}

/** POSTs `file` as the multipart field "file"; `onProgress` gets 0..1 while the body is sent. */
export async function uploadFile<T>(path: string, file: File, onProgress: (fraction: number) => void): Promise<T> {
  const token = await xsrfToken();
  const form = new FormData();
  form.append("file", file);
  return new Promise<T>((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", path);
    request.setRequestHeader("X-XSRFToken", token);
    request.setRequestHeader("Accept", "application/json");
    request.upload.onprogress = (event) => { if (event.lengthComputable) onProgress(event.loaded / event.total); };
    request.onerror = () => reject(new ApiError("NETWORK", "network error"));
    request.onload = () => {
      let envelope: { success?: boolean; data?: T; error?: { code: string; message: string; fields?: Record<string, string>; details?: Record<string, unknown> } };
      try {
        envelope = JSON.parse(request.responseText);
      } catch {
        reject(new ApiError(request.status >= 500 ? "INTERNAL" : "UNKNOWN", request.statusText, request.status));
        return;
      }
      if (request.status >= 200 && request.status < 300 && envelope.success) {
        onProgress(1);
        resolve(envelope.data as T);
      } else {
        const error = envelope.error ?? { code: "UNKNOWN", message: request.statusText };
        reject(new ApiError(error.code, error.message, request.status, error.fields ?? {}, error.details ?? {}));
      }
    };
    request.send(form);
  });
}
