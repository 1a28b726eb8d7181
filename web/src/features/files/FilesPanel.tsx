import { useQueryClient } from "@tanstack/react-query";
import { useId, useRef, useState } from "react";
import { Badge, Button, Card, EmptyState, SelectField, Skeleton, TextField, useConfirm, useToast } from "../../components/ui";
import { useTimeZone } from "../../lib/config";
import { formatDateTime } from "../../lib/dates";
import { ApiError } from "../../lib/api-client";
import { errorText } from "../../lib/errors";
import { isMessageKey, useI18n, type MessageKey, type Translate } from "../../lib/i18n";
import type { Study } from "../../lib/types";
import { ALL_FOLDERS, fileKeys, uploadFile, useDeleteFile, useFiles, useFolders, useStorage, type StudyFile } from "./api";
import { CATEGORIES, formatBytes, precheck, storageBar } from "./storage";

const ICON: Record<string, string> = { IMAGE: "🖼️", DOCUMENT: "📄", ARCHIVE: "🗜️", VIDEO: "🎬", AUDIO: "🎵", CODE: "💻" };

/** An upload refusal: the rule in the catalogue's words, then the server's detail (which limit, which check). */
function uploadErrorText(error: unknown, t: Translate): string {
  const key = error instanceof ApiError ? `errors.${error.code}` : "";
  if (!(error instanceof ApiError) || !isMessageKey(key)) return errorText(error, t);
  const detail = Object.values(error.fields).join(" ") || (error.message && error.message !== error.code ? error.message : "");
  const text = t(key);
  return detail && detail !== text ? `${text} (${detail})` : text;
}

interface Upload { id: number; name: string; progress: number; error: string | null; done: boolean; abort: AbortController }
let nextUpload = 1;

export function FilesPanel({ study, myId }: { study: Study; myId: string }) {
  const { t } = useI18n();
  const [folder, setFolder] = useState(ALL_FOLDERS);
  const [category, setCategory] = useState("");
  const [q, setQ] = useState("");
  const [page, setPage] = useState(1);
  const files = useFiles(study.id, { folder, category, q, page });
  const folders = useFolders(study.id);
  const isAdmin = study.my_role === "OWNER" || study.my_role === "ADMIN";
  const pagination = files.data?.pagination;
  const named = (folders.data ?? []).filter((row) => row.folder !== null);
  return (
    <section className="stack" aria-labelledby="files-title">
      <div className="row-between">
        <h2 id="files-title" className="panel-title">{t("roomTab.files")}</h2>
      </div>
      <StorageBar studyId={study.id} />
      <Uploader studyId={study.id} folders={named.map((row) => row.folder!)} currentFolder={folder === ALL_FOLDERS ? "" : folder} />
      <div className="filters files-filters">
        <TextField label={t("files.search")} type="search" value={q} onChange={(event) => { setQ(event.target.value); setPage(1); }} />
        <SelectField label={t("files.folder")} value={folder} onChange={(event) => { setFolder(event.target.value); setPage(1); }}>
          <option value={ALL_FOLDERS}>{t("files.allFolders")}</option>
          <option value="">{t("files.root")}</option>
          {named.map((row) => <option key={row.folder} value={row.folder!}>{row.folder} ({row.file_count})</option>)}
        </SelectField>
        <SelectField label={t("files.category")} value={category} onChange={(event) => { setCategory(event.target.value); setPage(1); }}>
          <option value="">{t("files.allCategories")}</option>
          {CATEGORIES.map((value) => <option key={value} value={value}>{t(`files.cat.${value}` as MessageKey)}</option>)}
        </SelectField>
      </div>
      {files.isPending ? <Card><Skeleton height={48} count={4} /></Card>
        : files.isError ? <EmptyState icon="⚠️" title={errorText(files.error, t)} action={<Button onClick={() => files.refetch()}>{t("app.retry")}</Button>} />
        : files.data.data.length === 0 ? <EmptyState icon="📁" title={t("files.emptyTitle")} body={t("files.emptyBody")} />
        : (
          <ul className="plain-list file-list" aria-label={t("files.list")}>
            {files.data.data.map((file) => (
              <FileRow key={file.id} file={file} studyId={study.id} deletable={isAdmin || file.uploader.id === myId} />
            ))}
          </ul>
        )}
      {pagination && pagination.total_pages > 1 && (
        <div className="row pager">
          <Button variant="secondary" size="s" disabled={!pagination.has_prev} onClick={() => setPage(page - 1)}>{t("roomUi.prevPage")}</Button>
          <span className="small muted">{t("roomUi.pageOf", { page: pagination.page, total: pagination.total_pages })}</span>
          <Button variant="secondary" size="s" disabled={!pagination.has_next} onClick={() => setPage(page + 1)}>{t("roomUi.nextPage")}</Button>
        </div>
      )}
    </section>
  );
}

function StorageBar({ studyId }: { studyId: string }) {
  const { t } = useI18n();
  const storage = useStorage(studyId);
  if (!storage.data) return <Skeleton height={40} />;
  const { used_bytes: used, quota_bytes: quota, file_count: count } = storage.data;
  const bar = storageBar(used, quota);
  return (
    <div className="storage" data-level={bar.level}>
      <div className="row-between small">
        <span>{t("files.storage", { used: formatBytes(used), quota: formatBytes(quota) })}</span>
        <span className="muted">{t("files.count", { count })}</span>
      </div>
      <div className="storage-bar" role="meter" aria-label={t("files.storageLabel")} aria-valuemin={0} aria-valuemax={100}
        aria-valuenow={storage.data.usage_percent} aria-valuetext={`${storage.data.usage_percent}%`}>
        <span style={{ width: `${bar.percent}%` }} />
      </div>
    </div>
  );
}

function Uploader({ studyId, folders, currentFolder }: { studyId: string; folders: string[]; currentFolder: string }) {
  const { t } = useI18n();
  const toast = useToast();
  const queryClient = useQueryClient();
  const input = useRef<HTMLInputElement>(null);
  const listId = useId();
  const [folder, setFolder] = useState(currentFolder);
  const [uploads, setUploads] = useState<Upload[]>([]);
  const [dragOver, setDragOver] = useState(false);
  const patch = (id: number, change: Partial<Upload>) => setUploads((all) => all.map((u) => (u.id === id ? { ...u, ...change } : u)));

  const start = (list: FileList | null) => {
    for (const file of Array.from(list ?? [])) {
      const id = nextUpload++;
      const abort = new AbortController();
      const early = precheck(file.name, file.size);
      const upload: Upload = { id, name: file.name, progress: 0, error: null, done: false, abort };
      if (early) {
        upload.error = early.code === "FILE_TOO_LARGE"
          ? t("files.tooLarge", { limit: formatBytes(early.limit ?? 0) }) : t("errors.FILE_TYPE_NOT_ALLOWED");
        setUploads((all) => [...all, upload]);
        continue;
      }
      setUploads((all) => [...all, upload]);
      uploadFile(studyId, file, folder, (progress) => patch(id, { progress }), abort.signal).then(() => {
        patch(id, { done: true, progress: 1 });
        toast(t("files.uploaded", { name: file.name }));
        queryClient.invalidateQueries({ queryKey: fileKeys.all(studyId) });
        setTimeout(() => setUploads((all) => all.filter((u) => u.id !== id)), 4000);
      }, (error) => {
        if (error instanceof DOMException && error.name === "AbortError") { setUploads((all) => all.filter((u) => u.id !== id)); return; }
        patch(id, { error: uploadErrorText(error, t) });
      });
    }
    if (input.current) input.current.value = "";
  };

  return (
    <Card className={dragOver ? "uploader uploader-over" : "uploader"}
      onDragOver={(event) => { if (event.dataTransfer.types.includes("Files")) { event.preventDefault(); setDragOver(true); } }}
      onDragLeave={() => setDragOver(false)}
      onDrop={(event) => { event.preventDefault(); setDragOver(false); start(event.dataTransfer.files); }}>
      <div className="uploader-row">
        <div className="field grow">
          <label htmlFor="upload-folder">{t("files.uploadFolder")}</label>
          <input id="upload-folder" list={listId} value={folder} maxLength={100} placeholder={t("files.rootPlaceholder")}
            onChange={(event) => setFolder(event.target.value)} />
          <datalist id={listId}>{folders.map((name) => <option key={name} value={name} />)}</datalist>
        </div>
        <div className="uploader-pick">
          <input ref={input} id="upload-input" type="file" multiple className="visually-hidden" onChange={(event) => start(event.target.files)} />
          <label htmlFor="upload-input" className="btn btn-primary">⬆ {t("files.upload")}</label>
        </div>
      </div>
      <p className="small muted">{t("files.uploadHint")}</p>
      {uploads.length > 0 && (
        <ul className="plain-list stack-s" aria-label={t("files.uploads")}>
          {uploads.map((upload) => (
            <li key={upload.id} className="upload">
              <div className="row-between small">
                <span className="ellipsis">{upload.name}</span>
                {upload.error ? (
                  <Button size="s" variant="ghost" onClick={() => setUploads((all) => all.filter((u) => u.id !== upload.id))}>{t("app.close")}</Button>
                ) : upload.done ? <span className="badge badge-success">{t("files.done")}</span> : (
                  <Button size="s" variant="ghost" onClick={() => upload.abort.abort()}>{t("app.cancel")}</Button>
                )}
              </div>
              {upload.error ? <p className="error-text" role="alert">{upload.error}</p> : (
                <progress className="upload-progress" max={100} value={Math.round(upload.progress * 100)}
                  aria-label={t("files.progress", { name: upload.name })}>{Math.round(upload.progress * 100)}%</progress>
              )}
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}

function FileRow({ file, studyId, deletable }: { file: StudyFile; studyId: string; deletable: boolean }) {
  const { t, language } = useI18n();
  const timeZone = useTimeZone();
  const confirm = useConfirm();
  const toast = useToast();
  const remove = useDeleteFile(studyId);
  const onDelete = async () => {
    if (!(await confirm(t("files.deleteConfirm", { name: file.name }), { danger: true, confirmLabel: t("roomUi.delete") }))) return;
    remove.mutate(file.id, { onSuccess: () => toast(t("files.deleted")), onError: (error) => toast(errorText(error, t), "error") });
  };
  return (
    <li className="file-row">
      <span className="file-icon" aria-hidden="true">{ICON[file.category] ?? "📄"}</span>
      <div className="grow">
        <div className="ellipsis file-name">{file.name}</div>
        <div className="small muted file-meta">
          {formatBytes(file.size)} · {file.uploader.name} · {formatDateTime(file.created_at, language, timeZone)}
          {" · "}{t("files.downloads", { count: file.downloads })}
          {file.folder && <> · <Badge>📂 {file.folder}</Badge></>}
        </div>
      </div>
      <div className="row file-actions">
        <a className="btn btn-secondary btn-s" href={file.url} download={file.name} aria-label={`${t("files.download")}: ${file.name}`}>{t("files.download")}</a>
        {deletable && <Button size="s" variant="ghost" onClick={onDelete} aria-label={`${t("roomUi.delete")}: ${file.name}`}>{t("roomUi.delete")}</Button>}
      </div>
    </li>
  );
}
