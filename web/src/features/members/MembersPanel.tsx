import { useEffect, useRef, useState, type FormEvent } from "react";
import { Avatar, Badge, Button, Card, EmptyState, Skeleton, TextArea, useConfirm, useToast } from "../../components/ui";
import { useTimeZone } from "../../lib/config";
import { formatDateTime } from "../../lib/dates";
import { errorText } from "../../lib/errors";
import { useI18n, type MessageKey } from "../../lib/i18n";
import type { Member, Study } from "../../lib/types";
import { useChangeRole, useJoinRequests, useKick, useMembers, useReview, useTransferOwnership } from "./api";

const REASON_MAX = 200;

export function MembersPanel({ study, myId }: { study: Study; myId: string }) {
  const { t } = useI18n();
  const members = useMembers(study.id);
  const isOwner = study.my_role === "OWNER";
  const isAdmin = isOwner || study.my_role === "ADMIN";
  const [kicking, setKicking] = useState<Member | null>(null);
  return (
    <section className="stack" aria-labelledby="members-title">
      <h2 id="members-title" className="panel-title">{t("members.title", { count: study.current_members, max: study.max_members })}</h2>
      {isAdmin && <JoinRequests study={study} />}
      <Card>
        {members.isPending ? <Skeleton count={4} /> : members.isError ? <p className="error-text">{errorText(members.error, t)}</p> : (
          <ul className="plain-list member-rows" aria-label={t("members.list")}>
            {members.data.map((member) => (
              <MemberRow key={member.user_id} member={member} me={member.user_id === myId} study={study}
                canKick={isAdmin && member.user_id !== myId && member.role !== "OWNER" && (isOwner || member.role === "MEMBER")}
                onKick={() => setKicking(member)} />
            ))}
          </ul>
        )}
      </Card>
      {kicking && <KickDialog study={study} member={kicking} onClose={() => setKicking(null)} />}
    </section>
  );
}

function MemberRow({ member, me, study, canKick, onKick }: { member: Member; me: boolean; study: Study; canKick: boolean; onKick: () => void }) {
  const { t, language } = useI18n();
  const timeZone = useTimeZone();
  const toast = useToast();
  const confirm = useConfirm();
  const changeRole = useChangeRole(study.id);
  const transfer = useTransferOwnership(study.id);
  const isOwner = study.my_role === "OWNER";
  const name = member.user.name;
  const onRole = (role: "ADMIN" | "MEMBER") => changeRole.mutate({ userId: member.user_id, role }, {
    onSuccess: () => toast(t("members.roleChanged", { name, role: t(`role.${role}` as MessageKey) })),
    onError: (error) => toast(errorText(error, t), "error"),
  });
  const onTransfer = async () => {
    if (!(await confirm(t("members.transferConfirm", { name }), { danger: true, confirmLabel: t("members.transfer") }))) return;
    transfer.mutate(member.user_id, {
      onSuccess: () => toast(t("members.transferred", { name })),
      onError: (error) => toast(errorText(error, t), "error"),
    });
  };
  return (
    <li className="member-row">
      <Avatar name={name} src={member.user.avatar} size={40} />
      <div className="grow">
        <div className="row member-name">
          <strong className="ellipsis">{name}</strong>
          {me && <Badge>{t("members.me")}</Badge>}
          <Badge tone={member.role === "MEMBER" ? "neutral" : "primary"}>{t(`role.${member.role}` as MessageKey)}</Badge>
        </div>
        {member.joined_at && <div className="small muted">{t("members.joinedAt", { time: formatDateTime(member.joined_at, language, timeZone) })}</div>}
      </div>
      <div className="row member-actions">
        {isOwner && !me && member.role !== "OWNER" && (
          <>
            <label className="visually-hidden" htmlFor={`role-${member.user_id}`}>{t("members.roleOf", { name })}</label>
            <select id={`role-${member.user_id}`} className="inline-select" value={member.role} disabled={changeRole.isPending}
              onChange={(event) => onRole(event.target.value as "ADMIN" | "MEMBER")}>
              <option value="ADMIN">{t("role.ADMIN")}</option>
              <option value="MEMBER">{t("role.MEMBER")}</option>
            </select>
            {member.role === "ADMIN" && (
              <Button size="s" variant="secondary" onClick={onTransfer} busy={transfer.isPending}
                aria-label={`${t("members.transfer")}: ${name}`}>{t("members.transfer")}</Button>
            )}
          </>
        )}
        {canKick && <Button size="s" variant="ghost" onClick={onKick} aria-label={`${t("members.kick")}: ${name}`}>{t("members.kick")}</Button>}
      </div>
    </li>
  );
}

/** Kicking asks for an optional reason, which the kicked person sees in their notification. */
function KickDialog({ study, member, onClose }: { study: Study; member: Member; onClose: () => void }) {
  const { t } = useI18n();
  const toast = useToast();
  const kick = useKick(study.id);
  const ref = useRef<HTMLDialogElement>(null);
  const [reason, setReason] = useState("");
  useEffect(() => { ref.current?.showModal(); }, []);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    kick.mutate({ userId: member.user_id, reason: reason.trim() }, {
      onSuccess: () => { toast(t("members.kicked", { name: member.user.name })); onClose(); },
      onError: (error) => toast(errorText(error, t), "error"),
    });
  };
  return (
    <dialog ref={ref} className="dialog" aria-labelledby="kick-title" onCancel={onClose} onClose={onClose}>
      <form className="stack" onSubmit={submit}>
        <h2 id="kick-title">{t("members.kickTitle", { name: member.user.name })}</h2>
        <p className="muted">{t("members.kickBody")}</p>
        <TextArea label={t("members.kickReason")} value={reason} maxLength={REASON_MAX} onChange={(event) => setReason(event.target.value)}
          hint={`${[...reason].length}/${REASON_MAX}`} />
        <div className="dialog-actions">
          <Button variant="secondary" onClick={onClose}>{t("app.cancel")}</Button>
          <Button type="submit" variant="danger" busy={kick.isPending}>{t("members.kick")}</Button>
        </div>
      </form>
    </dialog>
  );
}

/** The join-request review: the members tab shows it, and the app hands it to the study page. */
export function JoinRequests({ study, heading: Heading = "h3" }: { study: Study; heading?: "h2" | "h3" }) {
  const { t, language } = useI18n();
  const timeZone = useTimeZone();
  const confirm = useConfirm();
  const toast = useToast();
  const requests = useJoinRequests(study.id, true);
  const review = useReview(study.id);
  const act = async (userId: string, name: string, approve: boolean) => {
    if (!approve && !(await confirm(t("detail.rejectConfirm", { name }), { danger: true, confirmLabel: t("detail.reject") }))) return;
    review.mutate({ userId, approve }, {
      onSuccess: () => toast(t(approve ? "detail.approved" : "detail.rejected", { name })),
      onError: (error) => toast(errorText(error, t), "error"),
    });
  };
  const list = requests.data ?? [];
  return (
    <Card>
      <section aria-labelledby="room-requests-title" aria-live="polite" className="stack-s">
        <Heading id="room-requests-title">{t("detail.requestsTitle", { count: list.length })}</Heading>
        {requests.isPending ? <Skeleton count={2} /> : list.length === 0 ? <EmptyState icon="📭" title={t("detail.requestsEmpty")} /> : (
          <ul className="plain-list stack">
            {list.map((request) => (
              <li key={request.user.id} className="request stack-s">
                <div className="row">
                  <Avatar name={request.user.name} src={request.user.avatar} />
                  <div className="grow">
                    <strong>{request.user.name}</strong>
                    <div className="muted small">{t("detail.appliedAt", { time: formatDateTime(request.applied_at, language, timeZone) })}</div>
                  </div>
                </div>
                {request.introduction && <p className="pre-line">{request.introduction}</p>}
                <div className="row">
                  {request.motivation && <Badge>{t(`motivation.${request.motivation}` as MessageKey)}</Badge>}
                  {request.level && <Badge>{t(`level.${request.level}` as MessageKey)}</Badge>}
                </div>
                <div className="row">
                  <Button size="s" onClick={() => act(request.user.id, request.user.name, true)} aria-label={`${t("detail.approve")}: ${request.user.name}`}>{t("detail.approve")}</Button>
                  <Button size="s" variant="secondary" onClick={() => act(request.user.id, request.user.name, false)} aria-label={`${t("detail.reject")}: ${request.user.name}`}>{t("detail.reject")}</Button>
                </div>
              </li>
            ))}
          </ul>
        )}
      </section>
    </Card>
  );
}
