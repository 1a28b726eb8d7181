import { useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { Avatar, Badge, Button, Card, Checkbox, EmptyState, Skeleton, TextField, useConfirm, useToast } from "../../components/ui";
import { useTimeZone } from "../../lib/config";
import { formatDateTime } from "../../lib/dates";
import { errorText, fieldErrors } from "../../lib/errors";
import { useI18n } from "../../lib/i18n";
import type { Study } from "../../lib/types";
import { MAX_ATTACHMENTS, PIN_LIMIT, useAttachableFiles, useDeleteNotice, useNotice, useNotices, useSaveNotice, useTogglePin, type Notice } from "./api";
import { noticeHtml } from "./rich-text";
import { RichTextEditor } from "./RichTextEditor";

/** The list's plain-text preview without Markdown markers (the server cuts content as text). */
function plainPreview(text: string): string {
  return text.replace(/\[([^\]]+)\]\([^)]*\)/g, "$1").replace(/(\*\*|__|`|^#{1,6}\s|^>\s?)/gm, "");
}

export function NoticesPanel({ study, myId }: { study: Study; myId: string }) {
  const { noticeId } = useParams();
  const [editing, setEditing] = useState<Notice | "new" | null>(null);
  const isAdmin = study.my_role === "OWNER" || study.my_role === "ADMIN";
  const base = `/studies/${study.id}/room/notices`;
  if (editing) return <NoticeForm study={study} notice={editing === "new" ? null : editing} onDone={() => setEditing(null)} />;
  if (noticeId) return <NoticeDetail study={study} id={noticeId} myId={myId} base={base} onEdit={setEditing} />;
  return <NoticeList study={study} base={base} canWrite={isAdmin} onNew={() => setEditing("new")} />;
}

function NoticeList({ study, base, canWrite, onNew }: { study: Study; base: string; canWrite: boolean; onNew: () => void }) {
  const { t, language } = useI18n();
  const timeZone = useTimeZone();
  const [page, setPage] = useState(1);
  const notices = useNotices(study.id, page);
  const pagination = notices.data?.pagination;
  return (
    <section className="stack" aria-labelledby="notices-title">
      <div className="row-between">
        <h2 id="notices-title" className="panel-title">{t("roomTab.notices")}</h2>
        {canWrite && <Button onClick={onNew}>{t("notices.new")}</Button>}
      </div>
      {notices.isPending ? <Card><Skeleton height={56} count={3} /></Card>
        : notices.isError ? <EmptyState icon="⚠️" title={errorText(notices.error, t)} action={<Button onClick={() => notices.refetch()}>{t("app.retry")}</Button>} />
        : notices.data.data.length === 0 ? <EmptyState icon="📢" title={t("notices.emptyTitle")} body={t(canWrite ? "notices.emptyAdmin" : "notices.emptyBody")} />
        : (
          <ul className="plain-list stack-s" aria-label={t("notices.list")}>
            {notices.data.data.map((notice) => (
              <li key={notice.id}>
                <Link to={`${base}/${notice.id}`} className="card-link">
                  <Card className={notice.is_pinned ? "notice-card notice-pinned" : "notice-card"}>
                    <div className="row notice-badges">
                      {notice.is_pinned && <Badge tone="primary">📌 {t("notices.pinned")}</Badge>}
                      {notice.is_important && <Badge tone="danger">{t("notices.important")}</Badge>}
                    </div>
                    <h3 className="notice-title">{notice.title}</h3>
                    <p className="muted small notice-preview">{plainPreview(notice.content)}{notice.content_truncated ? "…" : ""}</p>
                    <div className="small muted">
                      {notice.author.name} · {formatDateTime(notice.created_at, language, timeZone)} · {t("notices.views", { count: notice.views })}
                    </div>
                  </Card>
                </Link>
              </li>
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

function NoticeDetail({ study, id, myId, base, onEdit }: { study: Study; id: string; myId: string; base: string; onEdit: (notice: Notice) => void }) {
  const { t, language } = useI18n();
  const timeZone = useTimeZone();
  const confirm = useConfirm();
  const toast = useToast();
  const navigate = useNavigate();
  const notice = useNotice(study.id, id);
  const pin = useTogglePin(study.id);
  const remove = useDeleteNotice(study.id);
  const isAdmin = study.my_role === "OWNER" || study.my_role === "ADMIN";
  if (notice.isPending) return <Card><Skeleton count={6} /></Card>;
  if (notice.isError) {
    return <EmptyState icon="📢" title={errorText(notice.error, t)} action={<Link className="btn btn-secondary" to={base}>{t("notices.backToList")}</Link>} />;
  }
  const n = notice.data;
  const canChange = isAdmin || n.author.id === myId;
  const onDelete = async () => {
    if (!(await confirm(t("notices.deleteConfirm", { title: n.title }), { danger: true, confirmLabel: t("roomUi.delete") }))) return;
    remove.mutate(n.id, {
      onSuccess: () => { toast(t("notices.deleted")); navigate(base, { replace: true }); },
      onError: (error) => toast(errorText(error, t), "error"),
    });
  };
  return (
    <article className="stack" aria-labelledby="notice-title">
      <Link to={base} className="back-link">← {t("notices.backToList")}</Link>
      <Card className="stack-s">
        <div className="row notice-badges">
          {n.is_pinned && <Badge tone="primary">📌 {t("notices.pinned")}</Badge>}
          {n.is_important && <Badge tone="danger">{t("notices.important")}</Badge>}
        </div>
        <h2 id="notice-title">{n.title}</h2>
        <div className="row small muted">
          <Avatar name={n.author.name} src={n.author.avatar} size={24} />
          <span>{n.author.name}</span>
          <span>{formatDateTime(n.created_at, language, timeZone)}</span>
          <span data-testid="notice-views">{t("notices.views", { count: n.views })}</span>
        </div>
        <div className="notice-body" dangerouslySetInnerHTML={{ __html: noticeHtml(n.content) }} />
        {n.attachments.length > 0 && (
          <ul className="plain-list stack-s" aria-label={t("notices.attachments")}>
            {n.attachments.map((file) => <li key={file.id}><a href={file.url} download>📎 {file.name}</a></li>)}
          </ul>
        )}
        {canChange && (
          <div className="row">
            {isAdmin && (
              <Button size="s" variant="secondary" busy={pin.isPending}
                onClick={() => pin.mutate(n.id, { onError: (error) => toast(errorText(error, t), "error") })}>
                {t(n.is_pinned ? "notices.unpin" : "notices.pin")}
              </Button>
            )}
            <Button size="s" variant="secondary" onClick={() => onEdit(n)}>{t("roomUi.edit")}</Button>
            <Button size="s" variant="ghost" onClick={onDelete} busy={remove.isPending}>{t("roomUi.delete")}</Button>
          </div>
        )}
      </Card>
    </article>
  );
}

function NoticeForm({ study, notice, onDone }: { study: Study; notice: Notice | null; onDone: () => void }) {
  const { t } = useI18n();
  const toast = useToast();
  const navigate = useNavigate();
  const save = useSaveNotice(study.id);
  const [title, setTitle] = useState(notice?.title ?? "");
  const [initial] = useState(notice?.content ?? "");
  const [content, setContent] = useState(notice ? noticeHtml(notice.content) : "");
  const [pinned, setPinned] = useState(notice?.is_pinned ?? false);
  const [important, setImportant] = useState(notice?.is_important ?? false);
  const [attachments, setAttachments] = useState<string[]>(notice?.attachments.map((file) => file.id) ?? []);
  const files = useAttachableFiles(study.id);
  const errors = fieldErrors(save.error);
  const empty = !content.replace(/<[^>]*>/g, "").trim();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (empty) return;
    save.mutate({ id: notice?.id, body: { title: title.trim(), content, is_pinned: pinned, is_important: important, attachment_file_ids: attachments } }, {
      onSuccess: (saved) => {
        toast(t(notice ? "notices.saved" : "notices.created"));
        onDone();
        navigate(`/studies/${study.id}/room/notices/${saved.id}`);
      },
      onError: (error) => { if (!Object.keys(fieldErrors(error)).length) toast(errorText(error, t), "error"); },
    });
  };
  return (
    <Card>
      <form className="stack" onSubmit={submit} aria-labelledby="notice-form-title">
        <h2 id="notice-form-title">{t(notice ? "notices.editTitle" : "notices.new")}</h2>
        <TextField label={t("notices.titleLabel")} value={title} onChange={(event) => setTitle(event.target.value)} required minLength={2} maxLength={100} error={errors.title} autoFocus />
        <RichTextEditor label={t("notices.content")} initialHtml={initial} onChange={setContent} error={errors.content} />
        <div className="row">
          <Checkbox label={t("notices.pinLabel", { max: PIN_LIMIT })} checked={pinned} onChange={(event) => setPinned(event.target.checked)} />
          <Checkbox label={t("notices.importantLabel")} checked={important} onChange={(event) => setImportant(event.target.checked)} />
        </div>
        {(files.data?.length ?? 0) > 0 && (
          <fieldset className="fieldset">
            <legend>{t("notices.attachLabel", { max: MAX_ATTACHMENTS })}</legend>
            <div className="assignee-grid">
              {files.data!.map((file) => (
                <Checkbox key={file.id} label={file.name} checked={attachments.includes(file.id)}
                  disabled={!attachments.includes(file.id) && attachments.length >= MAX_ATTACHMENTS}
                  onChange={(event) => setAttachments((current) => event.target.checked
                    ? [...current, file.id] : current.filter((id) => id !== file.id))} />
              ))}
            </div>
            {errors.attachment_file_ids && <p className="error-text" role="alert">{errors.attachment_file_ids}</p>}
          </fieldset>
        )}
        {save.error && !Object.keys(errors).length ? <p className="error-text" role="alert">{errorText(save.error, t)}</p> : null}
        <div className="row">
          <Button type="submit" busy={save.isPending} disabled={empty}>{t(notice ? "roomUi.save" : "notices.publish")}</Button>
          <Button variant="secondary" onClick={onDone}>{t("app.cancel")}</Button>
        </div>
      </form>
    </Card>
  );
}
