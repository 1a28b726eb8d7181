import { useState, type FormEvent } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router";
import { Avatar, Badge, Button, Card, EmptyState, SelectField, Skeleton, TextField, useConfirm, useToast } from "../../components/ui";
import { useTimeZone } from "../../lib/config";
import { formatDateTime } from "../../lib/dates";
import { errorText } from "../../lib/errors";
import { useI18n, type MessageKey } from "../../lib/i18n";
import { useSession } from "../../lib/session";
import { useGroup, useGroupAction, useGroupInvites, useGroupMembers, type Group, type GroupMember } from "./api";
import "../../styles/pages.css";

const RANK = { OWNER: 3, ADMIN: 2, MEMBER: 1 } as const;

export function GroupDetailPage() {
  const { groupId = "" } = useParams();
  const { t } = useI18n();
  const group = useGroup(groupId);
  if (group.isPending) return <div className="page"><Card><Skeleton count={5} /></Card></div>;
  if (group.isError) {
    return <div className="page"><EmptyState icon="👥" title={errorText(group.error, t)}
      action={<Link className="btn btn-secondary" to="/groups">{t("groups.title")}</Link>} /></div>;
  }
  const g = group.data;
  const isAdmin = g.my_role === "OWNER" || g.my_role === "ADMIN";
  return (
    <div className="page">
      <div className="detail-grid">
        <div className="stack">
          <Card className="stack-s">
            <h1>{g.name}</h1>
            <div className="row row-tight">
              <Badge tone="primary">{t(`groups.category.${g.category}` as MessageKey)}</Badge>
              {!g.is_public && <Badge tone="warning">{t("studies.private")}</Badge>}
              <Badge tone={g.is_recruiting ? "success" : "neutral"}>{t(g.is_recruiting ? "studies.recruitingOpen" : "studies.recruitingClosed")}</Badge>
            </div>
            <p className="muted">{t("studies.members", { current: g.current_members, max: g.max_members })} · {t("groups.createdBy", { name: g.created_by.name })}</p>
            {g.description && <p className="pre-line">{g.description}</p>}
            {g.tags.length > 0 && <ul className="tag-list" aria-label={t("detail.tags")}>{g.tags.map((tag) => <li key={tag}><Badge>#{tag}</Badge></li>)}</ul>}
          </Card>
          <MembersCard group={g} />
          {isAdmin && <InvitesCard group={g} />}
        </div>
        <div className="stack"><MembershipCard group={g} /></div>
      </div>
    </div>
  );
}

function MembershipCard({ group }: { group: Group }) {
  const { t } = useI18n();
  const toast = useToast();
  const confirm = useConfirm();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const [code, setCode] = useState(params.get("code") ?? "");
  const actions = useGroupAction(group.id);
  const fail = (error: unknown) => toast(errorText(error, t), "error");
  if (group.is_member) {
    const onLeave = async () => {
      if (!(await confirm(t("groups.leaveConfirm"), { danger: true }))) return;
      actions.leave.mutate(undefined, { onSuccess: () => toast(t("groups.left")), onError: fail });
    };
    const onDelete = async () => {
      if (!(await confirm(t("groups.deleteConfirm", { name: group.name }), { danger: true, confirmLabel: t("groups.delete") }))) return;
      actions.remove.mutate(undefined, { onSuccess: () => { toast(t("groups.deleted")); navigate("/groups"); }, onError: fail });
    };
    return (
      <Card className="stack">
        <p><strong>{t("groups.youAre", { role: t(`groups.role.${group.my_role ?? "MEMBER"}` as MessageKey) })}</strong></p>
        <Button variant="secondary" onClick={onLeave} busy={actions.leave.isPending}>{t("groups.leave")}</Button>
        {group.my_role === "OWNER" && <Button variant="danger" onClick={onDelete} busy={actions.remove.isPending}>{t("groups.delete")}</Button>}
      </Card>
    );
  }
  const submit = (event: FormEvent) => {
    event.preventDefault();
    actions.join.mutate(code.trim() || null, { onSuccess: () => toast(t("groups.joined")) });
  };
  return (
    <Card>
      <form className="stack" onSubmit={submit} noValidate>
        <h2>{t("groups.joinTitle")}</h2>
        <TextField label={t("groups.inviteCode")} value={code} onChange={(event) => setCode(event.target.value.toUpperCase())} maxLength={12}
          hint={t(group.is_recruiting ? "groups.inviteCodeOptional" : "groups.inviteCodeRequired")} autoComplete="off" />
        {actions.join.error && <p className="error-text" role="alert">{errorText(actions.join.error, t)}</p>}
        <Button type="submit" block busy={actions.join.isPending} disabled={!group.is_recruiting && !code.trim()}>{t("groups.join")}</Button>
      </form>
    </Card>
  );
}

function MembersCard({ group }: { group: Group }) {
  const { t } = useI18n();
  const me = useSession().data;
  const members = useGroupMembers(group.id, true);
  return (
    <Card className="stack-s">
      <h2>{t("groups.members", { count: group.current_members })}</h2>
      {members.isPending ? <Skeleton count={3} /> : members.isError ? <p className="error-text">{errorText(members.error, t)}</p> : (
        <ul className="plain-list member-rows">
          {members.data.map((member) => <MemberRow key={member.user.id} group={group} member={member} isMe={member.user.id === me?.id} />)}
        </ul>
      )}
    </Card>
  );
}

function MemberRow({ group, member, isMe }: { group: Group; member: GroupMember; isMe: boolean }) {
  const { t } = useI18n();
  const toast = useToast();
  const confirm = useConfirm();
  const actions = useGroupAction(group.id);
  const myRank = group.my_role ? RANK[group.my_role] : 0;
  const canManage = !isMe && myRank >= RANK.ADMIN && myRank > RANK[member.role];
  const fail = (error: unknown) => toast(errorText(error, t), "error");
  const onRemove = async (kick: boolean) => {
    if (!(await confirm(t(kick ? "groups.kickConfirm" : "groups.removeConfirm", { name: member.user.name }), { danger: true }))) return;
    actions.removeMember.mutate({ userId: member.user.id, kick }, { onSuccess: () => toast(t("groups.memberRemoved", { name: member.user.name })), onError: fail });
  };
  return (
    <li className="member-row">
      <Avatar name={member.user.name} src={member.user.avatar} size={32} />
      <Link to={`/users/${member.user.id}`} className="grow ellipsis">{member.user.name}</Link>
      {group.my_role === "OWNER" && !isMe && member.role !== "OWNER" ? (
        <SelectField label={t("groups.roleOf", { name: member.user.name })} value={member.role}
          onChange={(event) => actions.setRole.mutate({ userId: member.user.id, role: event.target.value as "ADMIN" | "MEMBER" }, { onError: fail })}>
          <option value="ADMIN">{t("groups.role.ADMIN")}</option>
          <option value="MEMBER">{t("groups.role.MEMBER")}</option>
        </SelectField>
      ) : <Badge tone={member.role === "MEMBER" ? "neutral" : "primary"}>{t(`groups.role.${member.role}` as MessageKey)}</Badge>}
      {canManage && (
        <>
          <Button variant="ghost" size="s" onClick={() => onRemove(false)} aria-label={t("groups.removeOf", { name: member.user.name })}>{t("groups.remove")}</Button>
          <Button variant="ghost" size="s" onClick={() => onRemove(true)} aria-label={t("groups.kickOf", { name: member.user.name })}>{t("groups.kick")}</Button>
        </>
      )}
    </li>
  );
}

function InvitesCard({ group }: { group: Group }) {
  const { t, language } = useI18n();
  const timeZone = useTimeZone();
  const toast = useToast();
  const invites = useGroupInvites(group.id, true);
  const actions = useGroupAction(group.id);
  const [email, setEmail] = useState("");
  const [days, setDays] = useState(7);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    actions.invite.mutate({ ...(email.trim() ? { email: email.trim() } : {}), expires_in_days: days }, {
      onSuccess: () => { toast(t("groups.invited")); setEmail(""); },
    });
  };
  const link = (code: string) => `${window.location.origin}/groups/${group.id}?code=${code}`;
  const copy = (code: string) => navigator.clipboard?.writeText(link(code)).then(() => toast(t("groups.copied")), () => toast(link(code)));
  return (
    <Card className="stack">
      <h2>{t("groups.invites")}</h2>
      <form className="stack-s" onSubmit={submit} noValidate>
        <div className="form-row">
          <TextField label={t("groups.inviteEmail")} type="email" value={email} onChange={(event) => setEmail(event.target.value)} hint={t("groups.inviteEmailHint")} />
          <SelectField label={t("groups.inviteDays")} value={days} onChange={(event) => setDays(Number(event.target.value))}>
            {[1, 3, 7, 14, 30].map((value) => <option key={value} value={value}>{t("groups.days", { count: value })}</option>)}
          </SelectField>
        </div>
        <div><Button type="submit" busy={actions.invite.isPending}>{t("groups.inviteCreate")}</Button></div>
      </form>
      {actions.invite.error && <p className="error-text" role="alert">{errorText(actions.invite.error, t)}</p>}
      {invites.data && invites.data.length > 0 && (
        <ul className="plain-list member-rows">
          {invites.data.map((invite) => (
            <li key={invite.id} className="member-row">
              <code className="invite-code">{invite.code}</code>
              <span className="grow small muted">
                {invite.email ?? invite.invited_user?.name ?? t("groups.anyone")}
                {invite.expires_at ? ` · ${t("groups.expires", { time: formatDateTime(invite.expires_at, language, timeZone) })}` : ""}
              </span>
              <Badge tone={invite.status === "PENDING" ? "success" : "neutral"}>{t(`groups.inviteStatus.${invite.status}` as MessageKey)}</Badge>
              {invite.status === "PENDING" && (
                <>
                  <Button variant="ghost" size="s" onClick={() => copy(invite.code)} aria-label={t("groups.copyOf", { code: invite.code })}>{t("groups.copy")}</Button>
                  <Button variant="ghost" size="s" onClick={() => actions.cancelInvite.mutate(invite.id, { onError: (error) => toast(errorText(error, t), "error") })}
                    aria-label={t("groups.cancelOf", { code: invite.code })}>{t("groups.cancelInvite")}</Button>
                </>
              )}
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}
