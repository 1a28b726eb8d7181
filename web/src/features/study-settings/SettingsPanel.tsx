import { useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import { Badge, Button, Card, Checkbox, Skeleton, SelectField, TextArea, TextField, useConfirm, useToast } from "../../components/ui";
import { useConfig, useTimeZone } from "../../lib/config";
import { formatDateTime } from "../../lib/dates";
import { errorText, fieldErrors } from "../../lib/errors";
import { useI18n, type MessageKey } from "../../lib/i18n";
import type { Study } from "../../lib/types";
import { useCategories, useDeleteStudy, useInvite, useInviteAction, useUpdateStudy, type Invite } from "./api";

export function SettingsPanel({ study }: { study: Study }) {
  const { t } = useI18n();
  const isOwner = study.my_role === "OWNER";
  return (
    <section className="stack" aria-labelledby="settings-title">
      <h2 id="settings-title" className="panel-title">{t("roomTab.settings")}</h2>
      {isOwner && <StudyForm study={study} />}
      <InviteCard study={study} />
      {isOwner && <DangerZone study={study} />}
    </section>
  );
}

function StudyForm({ study }: { study: Study }) {
  const { t, language } = useI18n();
  const toast = useToast();
  const categories = useCategories().data ?? [];
  const maxAllowed = useConfig().data?.max_study_members ?? 20;
  const update = useUpdateStudy(study.id);
  const [form, setForm] = useState({
    name: study.name, emoji: study.emoji, description: study.description, category: study.category,
    sub_category: study.sub_category ?? "", tags: study.tags.join(", "), max_members: study.max_members,
    is_public: study.is_public, auto_approve: study.auto_approve, is_recruiting: study.is_recruiting,
  });
  const fields = fieldErrors(update.error);
  const subCategories = categories.find((category) => category.value === form.category)?.sub_categories ?? [];
  const set = <K extends keyof typeof form>(key: K, value: (typeof form)[K]) => setForm((current) => ({ ...current, [key]: value }));
  const label = (value: string) => (language === "ko" ? value : categories.find((c) => c.value === value)?.label_en ?? value);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    update.mutate({
      name: form.name.trim(), emoji: form.emoji.trim(), description: form.description, category: form.category,
      sub_category: form.sub_category || null, max_members: form.max_members, is_public: form.is_public,
      auto_approve: form.auto_approve, is_recruiting: form.is_recruiting,
      tags: form.tags.split(",").map((tag) => tag.trim()).filter(Boolean),
    }, {
      onSuccess: () => toast(t("settings.saved")),
      onError: (error) => { if (!Object.keys(fieldErrors(error)).length) toast(errorText(error, t), "error"); },
    });
  };
  return (
    <Card>
      <form className="stack" onSubmit={submit} aria-labelledby="settings-study-title">
        <h3 id="settings-study-title">{t("settings.studyTitle")}</h3>
        <div className="form-row">
          <TextField label={t("create.emoji")} value={form.emoji} maxLength={16} required onChange={(e) => set("emoji", e.target.value)} error={fields.emoji} />
          <TextField label={t("create.name")} hint={t("create.nameHint")} value={form.name} maxLength={50} required onChange={(e) => set("name", e.target.value)} error={fields.name} />
        </div>
        <TextArea label={t("create.description")} hint={t("create.descriptionHint")} value={form.description} maxLength={500} required
          onChange={(e) => set("description", e.target.value)} error={fields.description} />
        <div className="form-row">
          <SelectField label={t("studies.category")} value={form.category}
            onChange={(e) => setForm((current) => ({ ...current, category: e.target.value, sub_category: "" }))}>
            {categories.length === 0 && <option value={form.category}>{form.category}</option>}
            {categories.map((category) => <option key={category.value} value={category.value}>{label(category.value)}</option>)}
          </SelectField>
          {subCategories.length > 0 && (
            <SelectField label={t("create.subCategory")} value={form.sub_category} onChange={(e) => set("sub_category", e.target.value)} error={fields.sub_category}>
              <option value="">{t("detail.choose")}</option>
              {subCategories.map((sub) => <option key={sub.value} value={sub.value}>{language === "ko" ? sub.value : sub.label_en}</option>)}
            </SelectField>
          )}
        </div>
        <div className="form-row">
          <TextField label={t("create.tags")} hint={t("create.tagsHint")} value={form.tags} onChange={(e) => set("tags", e.target.value)} error={fields.tags} />
          <TextField label={t("create.maxMembers")} type="number" min={Math.max(2, study.current_members)} max={maxAllowed} value={form.max_members}
            onChange={(e) => set("max_members", Number(e.target.value))} error={fields.max_members}
            hint={t("settings.maxHint", { current: study.current_members })} />
        </div>
        <Checkbox label={t("create.isPublic")} checked={form.is_public} onChange={(e) => set("is_public", e.target.checked)} />
        <Checkbox label={t("create.autoApprove")} checked={form.auto_approve} onChange={(e) => set("auto_approve", e.target.checked)} />
        <Checkbox label={t("settings.recruiting")} checked={form.is_recruiting} onChange={(e) => set("is_recruiting", e.target.checked)} />
        {update.error && !Object.keys(fields).length ? <p className="error-text" role="alert">{errorText(update.error, t)}</p> : null}
        <div><Button type="submit" busy={update.isPending}>{t("roomUi.save")}</Button></div>
      </form>
    </Card>
  );
}

const STATE_TONE = { active: "success", expired: "warning", exhausted: "warning" } as const;

function InviteCard({ study }: { study: Study }) {
  const { t, language } = useI18n();
  const timeZone = useTimeZone();
  const toast = useToast();
  const confirm = useConfirm();
  const invite = useInvite(study.id);
  const action = useInviteAction(study.id);
  const [hours, setHours] = useState(168);
  const [uses, setUses] = useState(10);
  const run = (kind: "create" | "regenerate") => action.mutate({ kind, expires_in_hours: hours, max_uses: uses }, {
    onSuccess: () => toast(t(kind === "create" ? "settings.inviteCreated" : "settings.inviteRegenerated")),
    onError: (error) => toast(errorText(error, t), "error"),
  });
  const revoke = async () => {
    if (!(await confirm(t("settings.revokeConfirm"), { danger: true, confirmLabel: t("settings.revoke") }))) return;
    action.mutate({ kind: "revoke" }, { onSuccess: () => toast(t("settings.revoked")), onError: (error) => toast(errorText(error, t), "error") });
  };
  const current: Invite | null | undefined = invite.data;
  const link = current ? `${window.location.origin}/join/${current.invite_code}` : "";
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(link);
      toast(t("settings.copied"));
    } catch {
      toast(t("settings.copyFailed"), "error");
    }
  };
  return (
    <Card className="stack">
      <h3>{t("settings.inviteTitle")}</h3>
      <p className="muted small">{t("settings.inviteBody")}</p>
      {invite.isPending ? <Skeleton count={2} /> : invite.isError ? <p className="error-text">{errorText(invite.error, t)}</p> : current ? (
        <div className="stack-s invite-box">
          <div className="row">
            <code className="invite-code" aria-label={t("settings.code")}>{current.invite_code}</code>
            <Badge tone={STATE_TONE[current.state]}>{t(`settings.state.${current.state}` as MessageKey)}</Badge>
          </div>
          <div className="invite-link-row">
            <label className="visually-hidden" htmlFor="invite-link">{t("settings.link")}</label>
            <input id="invite-link" className="invite-link" readOnly value={link} onFocus={(event) => event.target.select()} />
            <Button size="s" onClick={copy}>{t("settings.copy")}</Button>
          </div>
          <p className="small muted">
            {t("settings.inviteMeta", { used: current.used_count, max: current.max_uses,
              expires: formatDateTime(current.expires_at, language, timeZone), slots: current.available_slots })}
          </p>
        </div>
      ) : <p className="muted">{t("settings.noInvite")}</p>}
      <div className="form-row">
        <SelectField label={t("settings.expires")} value={hours} onChange={(e) => setHours(Number(e.target.value))}>
          {[1, 24, 72, 168, 336, 720].map((value) => <option key={value} value={value}>{t("settings.hours", { count: value })}</option>)}
        </SelectField>
        <TextField label={t("settings.maxUses")} type="number" min={1} max={100} value={uses} onChange={(e) => setUses(Number(e.target.value))} />
      </div>
      <div className="row">
        {current ? (
          <>
            <Button variant="secondary" onClick={() => run("regenerate")} busy={action.isPending}>{t("settings.regenerate")}</Button>
            <Button variant="ghost" onClick={revoke}>{t("settings.revoke")}</Button>
          </>
        ) : <Button onClick={() => run("create")} busy={action.isPending}>{t("settings.createInvite")}</Button>}
      </div>
    </Card>
  );
}

function DangerZone({ study }: { study: Study }) {
  const { t } = useI18n();
  const toast = useToast();
  const confirm = useConfirm();
  const navigate = useNavigate();
  const remove = useDeleteStudy(study.id);
  const [typed, setTyped] = useState("");
  const onDelete = async () => {
    if (!(await confirm(t("settings.deleteConfirm", { name: study.name }), { danger: true, confirmLabel: t("settings.delete") }))) return;
    remove.mutate(undefined, {
      onSuccess: () => { toast(t("settings.deleted")); navigate("/my-studies", { replace: true }); },
      onError: (error) => toast(errorText(error, t), "error"),
    });
  };
  return (
    <Card className="stack danger-zone">
      <h3>{t("settings.dangerTitle")}</h3>
      <p className="muted small">{t("settings.deleteBody")}</p>
      <TextField label={t("settings.typeName", { name: study.name })} value={typed} onChange={(e) => setTyped(e.target.value)} autoComplete="off" />
      <div><Button variant="danger" disabled={typed.trim() !== study.name} busy={remove.isPending} onClick={onDelete}>{t("settings.delete")}</Button></div>
    </Card>
  );
}
