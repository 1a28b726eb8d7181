import { useState } from "react";
import { Avatar, Badge, Button, Card, EmptyState, Skeleton, TextField, useToast } from "../../components/ui";
import { useTimeZone } from "../../lib/config";
import { dayKey, formatTime } from "../../lib/dates";
import { errorText } from "../../lib/errors";
import { useI18n } from "../../lib/i18n";
import type { Study } from "../../lib/types";
import { useAttendanceDay, useAttendanceStats, useCheckIn } from "./api";

export function AttendancePanel({ study }: { study: Study; myId: string }) {
  const { t, language } = useI18n();
  const timeZone = useTimeZone();
  const toast = useToast();
  const today = dayKey(new Date().toISOString(), timeZone);
  const [date, setDate] = useState(today);
  const day = useAttendanceDay(study.id, date, date === today);
  const mine = useAttendanceDay(study.id, today);
  const stats = useAttendanceStats(study.id);
  const checkIn = useCheckIn(study.id);
  const me = mine.data?.me;
  const isAdmin = study.my_role === "OWNER" || study.my_role === "ADMIN";

  const onCheckIn = () => checkIn.mutate(undefined, {
    onSuccess: (result) => {
      const streak = result.results[0]?.streak ?? 1;
      toast(result.results[0]?.already_checked_in ? t("attendance.already") : t("attendance.done", { streak }));
    },
    onError: (error) => toast(errorText(error, t), "error"),
  });

  return (
    <section className="stack" aria-labelledby="attendance-title">
      <h2 id="attendance-title" className="panel-title">{t("roomTab.attendance")}</h2>
      <div className="stat-grid">
        <Card className="stack-s checkin-card">
          {mine.isPending ? <Skeleton count={2} /> : me?.checked_in_today ? (
            <>
              <p className="checkin-done" role="status">✅ {t("attendance.checkedInToday")}</p>
              <p className="muted small">{t("attendance.comeBack")}</p>
            </>
          ) : (
            <>
              <p>{t("attendance.prompt")}</p>
              <Button onClick={onCheckIn} busy={checkIn.isPending}>{t("attendance.checkIn")}</Button>
            </>
          )}
        </Card>
        <Stat label={t("attendance.currentStreak")} value={t("attendance.days", { count: me?.current_streak ?? 0 })} icon="🔥" />
        <Stat label={t("attendance.longestStreak")} value={t("attendance.days", { count: me?.longest_streak ?? 0 })} icon="🏆" />
        <Stat label={t("attendance.totalDays")} value={t("attendance.days", { count: me?.total_days ?? 0 })} icon="📆" />
      </div>

      <Card className="stack-s">
        <div className="row-between">
          <h3>{t("attendance.whoTitle", { count: day.data?.checked_in_count ?? 0, total: day.data?.member_count ?? study.current_members })}</h3>
          <div className="date-pick">
            <TextField label={t("attendance.date")} type="date" value={date} max={today} onChange={(event) => setDate(event.target.value || today)} />
          </div>
        </div>
        {day.isPending ? <Skeleton count={3} /> : day.isError ? <p className="error-text" role="alert">{errorText(day.error, t)}</p>
          : day.data.checked_in.length === 0 ? <EmptyState icon="🙋" title={t("attendance.nobody")} /> : (
            <ul className="member-list" aria-label={t("attendance.whoList")}>
              {day.data.checked_in.map((row) => (
                <li key={row.user.id}>
                  <Avatar name={row.user.name} src={row.user.avatar} size={32} />
                  <span className="grow ellipsis">{row.user.name}</span>
                  <Badge tone="warning">🔥 {t("attendance.days", { count: row.streak })}</Badge>
                  <time className="small muted" dateTime={row.checked_in_at}>{formatTime(row.checked_in_at, language, timeZone)}</time>
                </li>
              ))}
            </ul>
          )}
      </Card>

      <Card className="stack-s">
        <h3>{t(isAdmin ? "attendance.statsAll" : "attendance.statsMine")}</h3>
        {stats.isPending ? <Skeleton count={3} /> : stats.isError ? <p className="error-text">{errorText(stats.error, t)}</p> : (
          <div className="table-wrap">
            <table className="data-table">
              <thead><tr>
                <th scope="col">{t("attendance.member")}</th><th scope="col">{t("attendance.rate")}</th>
                <th scope="col">{t("attendance.attended")}</th><th scope="col">{t("attendance.currentStreak")}</th>
              </tr></thead>
              <tbody>
                {stats.data.map((row) => (
                  <tr key={row.user.id}>
                    <td>{row.user.name}</td>
                    <td><span className="rate-bar" aria-hidden="true"><span style={{ width: `${row.attendance_rate}%` }} /></span> {row.attendance_rate}%</td>
                    <td>{row.days_attended}/{row.eligible_days}</td>
                    <td>{row.current_streak}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
    </section>
  );
}

function Stat({ label, value, icon }: { label: string; value: string; icon: string }) {
  return (
    <Card className="stat">
      <span className="stat-icon" aria-hidden="true">{icon}</span>
      <span className="muted small">{label}</span>
      <strong className="stat-value">{value}</strong>
    </Card>
  );
}
