import { useRef, useState, type FormEvent, type ReactNode } from "react";
import { Link, useNavigate } from "react-router";
import { Avatar, Badge, Button, Card, EmptyState, Skeleton, TextArea, TextField, useConfirm, useToast } from "../../components/ui";
import { ApiError } from "../../lib/api-client";
import { useTimeZone } from "../../lib/config";
import { formatDateTime, formatDay } from "../../lib/dates";
import { errorText, fieldErrors } from "../../lib/errors";
import { useI18n } from "../../lib/i18n";
import { describeAgent } from "./agent";
import {
  useAccount, useChangePassword, useDeleteAccount, useLoginSessions, useMyStats, useRemoveAvatar, useRevokeSession,
  useUpdateProfile, useUploadAvatar, type MyAccount,
} from "./api";
import "../../styles/pages.css";

/** The password policy is the auth feature's; the app hands it in (features do not import each other). */
export interface PasswordPolicy {
  acceptable: (password: string, email: string) => boolean;
  Rules: (props: { password: string; email: string }) => ReactNode;
}

const AVATAR_TYPES = "image/jpeg,image/png,image/gif,image/webp";

export function ProfilePage({ passwordPolicy }: { passwordPolicy: PasswordPolicy }) {
  const { t } = useI18n();
  const account = useAccount();
  if (account.isPending) return <div className="page page-medium"><Card><Skeleton count={6} /></Card></div>;
  if (account.isError) return <div className="page"><EmptyState icon="⚠️" title={errorText(account.error, t)} action={<Button onClick={() => account.refetch()}>{t("app.retry")}</Button>} /></div>;
  const me = account.data.user;
  return (
    <div className="page page-medium stack">
      <h1>{t("profile.title")}</h1>
      <ProfileCard account={account.data} />
      <StatsCard />
      <PasswordCard hasPassword={me.has_password} email={me.email} policy={passwordPolicy} />
      <SessionsCard />
      <Card className="stack-s">
        <h2>{t("profile.more")}</h2>
        <ul className="plain-list link-list">
          <li><Link to="/reports">{t("reports.mineTitle")}</Link></li>
          <li><Link to={`/users/${me.id}`}>{t("profile.publicView")}</Link></li>
          <li><Link to="/terms">{t("legal.termsTitle")}</Link> · <Link to="/privacy">{t("legal.privacyTitle")}</Link></li>
        </ul>
      </Card>
      <DeleteAccountCard email={me.email} hasPassword={me.has_password} />
    </div>
  );
}

function ProfileCard({ account }: { account: MyAccount }) {
  const { t, language } = useI18n();
  const timeZone = useTimeZone();
  const toast = useToast();
  const me = account.user;
  const [name, setName] = useState(me.name);
  const [bio, setBio] = useState(me.bio ?? "");
  const [progress, setProgress] = useState<number | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const update = useUpdateProfile();
  const upload = useUploadAvatar(setProgress);
  const removeAvatar = useRemoveAvatar();
  const confirm = useConfirm();
  const errors = fieldErrors(update.error);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const body: { name?: string; bio?: string | null } = {};
    if (name.trim() !== me.name) body.name = name;
    if (bio !== (me.bio ?? "")) body.bio = bio || null;
    if (!Object.keys(body).length) return;
    update.mutate(body, { onSuccess: () => toast(t("profile.saved")) });
  };
  const onFile = (file: File | undefined) => {
    if (!file) return;
    setProgress(0);
    upload.mutate(file, {
      onSuccess: () => toast(t("profile.avatarUploaded")),
      onSettled: () => { setProgress(null); if (fileInput.current) fileInput.current.value = ""; },
    });
  };
  const onRemove = async () => {
    if (!(await confirm(t("profile.avatarRemoveConfirm"), { danger: true }))) return;
    removeAvatar.mutate(undefined, { onError: (error) => toast(errorText(error, t), "error") });
  };
  return (
    <Card className="stack">
      <h2>{t("profile.edit")}</h2>
      <div className="avatar-edit">
        <Avatar name={me.name} src={me.avatar} size={80} />
        <div className="stack-s grow">
          <div className="row row-tight">
            <label className="btn btn-secondary btn-s file-button">
              {t("profile.avatarUpload")}
              <input ref={fileInput} type="file" accept={AVATAR_TYPES} className="visually-hidden" disabled={upload.isPending}
                onChange={(event) => onFile(event.target.files?.[0])} />
            </label>
            {me.avatar && <Button variant="ghost" size="s" onClick={onRemove} busy={removeAvatar.isPending}>{t("profile.avatarRemove")}</Button>}
          </div>
          <p className="field-hint">{t("profile.avatarHint")}</p>
          {progress !== null && (
            <div className="stack-xs" role="status">
              <progress className="progress" max={1} value={progress} aria-label={t("profile.avatarProgress")} />
              <span className="small">{t("profile.uploading", { percent: Math.round(progress * 100) })}</span>
            </div>
          )}
          {upload.error && <p className="error-text" role="alert">{errorText(upload.error, t)}</p>}
        </div>
      </div>
      <form className="stack" onSubmit={submit} noValidate>
        <TextField label={t("auth.email")} value={me.email} readOnly hint={t("profile.emailHint")} />
        <TextField label={t("auth.name")} value={name} onChange={(event) => setName(event.target.value)} maxLength={50} required
          hint={t("auth.nameHint")} error={errors.name ?? null} autoComplete="nickname" />
        <TextArea label={t("profile.bio")} value={bio} onChange={(event) => setBio(event.target.value)} maxLength={200} rows={3}
          hint={t("profile.bioHint", { count: [...bio].length })} error={errors.bio ?? null} />
        {update.error && !Object.keys(errors).length && <p className="error-text" role="alert">{errorText(update.error, t)}</p>}
        <div className="row-between">
          <p className="muted small">{t("profile.joined", { date: formatDay(me.created_at, language, timeZone) })}
            {me.linked_providers.length > 0 && ` · ${t("profile.linked", { providers: me.linked_providers.join(", ") })}`}</p>
          <Button type="submit" busy={update.isPending}>{t("profile.save")}</Button>
        </div>
      </form>
    </Card>
  );
}

function StatsCard() {
  const { t } = useI18n();
  const stats = useMyStats();
  if (!stats.data) return null;
  const { this_week: week, total } = stats.data;
  return (
    <Card className="stack-s">
      <h2>{t("profile.stats")}</h2>
      <dl className="stat-grid stat-grid-wide">
        <div className="stat"><dt>{t("profile.stat.studies")}</dt><dd>{total.study_count}</dd></div>
        <div className="stat"><dt>{t("profile.stat.attendance")}</dt><dd>{total.attendance_rate}%</dd></div>
        <div className="stat"><dt>{t("profile.stat.streak")}</dt><dd>{total.best_current_streak}</dd></div>
        <div className="stat"><dt>{t("profile.stat.weekMessages")}</dt><dd>{week.chat_messages}</dd></div>
      </dl>
    </Card>
  );
}

function PasswordCard({ hasPassword, email, policy }: { hasPassword: boolean; email: string; policy: PasswordPolicy }) {
  const { t } = useI18n();
  const toast = useToast();
  const change = useChangePassword();
  const [form, setForm] = useState({ current: "", next: "", confirm: "" });
  const [submitted, setSubmitted] = useState(false);
  const errors = fieldErrors(change.error);
  const mismatch = form.confirm.length > 0 && form.confirm !== form.next;
  const set = (key: keyof typeof form) => (event: { target: { value: string } }) => setForm((current) => ({ ...current, [key]: event.target.value }));
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setSubmitted(true);
    if ((hasPassword && !form.current) || !policy.acceptable(form.next, email) || mismatch || !form.confirm) return;
    change.mutate({ ...(hasPassword ? { current_password: form.current } : {}), new_password: form.next, confirm_password: form.confirm }, {
      onSuccess: () => { toast(t("profile.passwordChanged")); setForm({ current: "", next: "", confirm: "" }); setSubmitted(false); },
    });
  };
  const wrongPassword = change.error instanceof ApiError && change.error.code === "WRONG_PASSWORD";
  const otherError = change.error && !wrongPassword && !Object.keys(errors).length;
  return (
    <Card>
      <form className="stack" onSubmit={submit} noValidate>
        <div>
          <h2>{t(hasPassword ? "profile.passwordTitle" : "profile.passwordSetTitle")}</h2>
          <p className="muted small">{t("profile.passwordLead")}</p>
        </div>
        {hasPassword && (
          <TextField label={t("profile.currentPassword")} type="password" autoComplete="current-password" value={form.current} onChange={set("current")}
            error={errors.current_password ?? (wrongPassword ? errorText(change.error, t) : null)
              ?? (submitted && !form.current ? t("auth.required") : null)} />
        )}
        <TextField label={t("profile.newPassword")} type="password" autoComplete="new-password" value={form.next} onChange={set("next")}
          error={errors.new_password ?? null} hint={<policy.Rules password={form.next} email={email} />} />
        <TextField label={t("profile.confirmPassword")} type="password" autoComplete="new-password" value={form.confirm} onChange={set("confirm")}
          error={mismatch ? t("auth.mismatch") : errors.confirm_password ?? (submitted && !form.confirm ? t("auth.required") : null)} />
        {otherError && <p className="error-text" role="alert">{errorText(change.error, t)}</p>}
        <div><Button type="submit" busy={change.isPending}>{t("profile.changePassword")}</Button></div>
      </form>
    </Card>
  );
}

function SessionsCard() {
  const { t, language } = useI18n();
  const timeZone = useTimeZone();
  const toast = useToast();
  const confirm = useConfirm();
  const navigate = useNavigate();
  const sessions = useLoginSessions();
  const revoke = useRevokeSession();
  const onRevoke = async (id: string, current: boolean) => {
    if (!(await confirm(t(current ? "profile.revokeCurrentConfirm" : "profile.revokeConfirm"), { danger: true, confirmLabel: t("profile.revoke") }))) return;
    revoke.mutate(id, {
      onSuccess: () => { toast(t("profile.revoked")); if (current) navigate("/"); },
      onError: (error) => toast(errorText(error, t), "error"),
    });
  };
  return (
    <Card className="stack-s">
      <h2>{t("profile.sessions")}</h2>
      <p className="muted small">{t("profile.sessionsLead")}</p>
      {sessions.isPending ? <Skeleton count={2} height={40} /> : sessions.isError ? <p className="error-text">{errorText(sessions.error, t)}</p> : (
        <ul className="plain-list session-list">
          {sessions.data.map((session) => (
            <li key={session.id} className="session-row" data-testid="login-session">
              <div className="grow">
                <p className="session-agent" title={session.user_agent ?? undefined}>
                  {describeAgent(session.user_agent) ?? t("profile.unknownDevice")} {session.current && <Badge tone="success">{t("profile.thisDevice")}</Badge>}
                </p>
                <p className="muted small">
                  {t("profile.lastSeen", { time: formatDateTime(session.last_seen_at, language, timeZone) })}{session.ip ? ` · ${session.ip}` : ""}
                </p>
              </div>
              <Button variant="ghost" size="s" onClick={() => onRevoke(session.id, session.current)}
                aria-label={t(session.current ? "profile.revokeCurrent" : "profile.revokeOne", { device: describeAgent(session.user_agent) ?? "" })}>
                {t(session.current ? "nav.signOut" : "profile.revoke")}
              </Button>
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}

function DeleteAccountCard({ email, hasPassword }: { email: string; hasPassword: boolean }) {
  const { t } = useI18n();
  const confirm = useConfirm();
  const toast = useToast();
  const navigate = useNavigate();
  const remove = useDeleteAccount();
  const [typed, setTyped] = useState("");
  const [password, setPassword] = useState("");
  const matches = typed.trim().toLowerCase() === email.toLowerCase();
  const owned = remove.error instanceof ApiError && remove.error.code === "OWNS_STUDIES"
    ? (remove.error.details.studies as { id: string; name: string }[] | undefined) ?? [] : [];
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!matches || (hasPassword && !password)) return;
    if (!(await confirm(t("profile.deleteConfirm"), { danger: true, confirmLabel: t("profile.deleteAccount") }))) return;
    remove.mutate({ confirmation: typed.trim(), ...(hasPassword ? { password } : {}) }, {
      onSuccess: () => { toast(t("profile.deleted")); navigate("/"); },
    });
  };
  return (
    <Card className="danger-zone">
      <form className="stack" onSubmit={submit} noValidate>
        <div>
          <h2>{t("profile.deleteTitle")}</h2>
          <p className="muted small">{t("profile.deleteLead")}</p>
        </div>
        <TextField label={t("profile.deleteType", { email })} value={typed} onChange={(event) => setTyped(event.target.value)} autoComplete="off" />
        {hasPassword && <TextField label={t("auth.password")} type="password" autoComplete="current-password" value={password} onChange={(event) => setPassword(event.target.value)} />}
        {remove.error && (
          <div className="error-text" role="alert">
            <p>{errorText(remove.error, t)}</p>
            {owned.length > 0 && <ul>{owned.map((study) => <li key={study.id}><Link to={`/studies/${study.id}`}>{study.name}</Link></li>)}</ul>}
          </div>
        )}
        <div><Button type="submit" variant="danger" disabled={!matches || (hasPassword && !password)} busy={remove.isPending}>{t("profile.deleteAccount")}</Button></div>
      </form>
    </Card>
  );
}
