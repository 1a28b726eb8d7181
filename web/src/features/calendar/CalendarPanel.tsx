import { useMemo, useState, type FormEvent } from "react";
import { Button, Card, Skeleton, TextArea, TextField, useConfirm, useToast } from "../../components/ui";
import { useTimeZone } from "../../lib/config";
import { dayKey } from "../../lib/dates";
import { errorText, fieldErrors } from "../../lib/errors";
import { useI18n } from "../../lib/i18n";
import type { Study } from "../../lib/types";
import { useDeleteEvent, useMonthEvents, useSaveEvent, type CalendarEvent } from "./api";
import { monthGrid, overlapping, readableText, shiftMonth } from "./month-grid";

const DEFAULT_COLOR = "#6366F1";
const WEEKDAYS_KO = ["일", "월", "화", "수", "목", "금", "토"];
const WEEKDAYS_EN = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

export function CalendarPanel({ study, myId }: { study: Study; myId: string }) {
  const { t, language } = useI18n();
  const timeZone = useTimeZone();
  const today = dayKey(new Date().toISOString(), timeZone);
  const [month, setMonth] = useState(today.slice(0, 7));
  const [selected, setSelected] = useState(today);
  const [editing, setEditing] = useState<CalendarEvent | "new" | null>(null);
  const events = useMonthEvents(study.id, month);
  const isAdmin = study.my_role === "OWNER" || study.my_role === "ADMIN";
  const byDate = useMemo(() => {
    const map = new Map<string, CalendarEvent[]>();
    for (const event of events.data ?? []) map.set(event.date, [...(map.get(event.date) ?? []), event]);
    return map;
  }, [events.data]);
  const weeks = monthGrid(month);
  const [year, mon] = month.split("-").map(Number) as [number, number];
  const monthLabel = new Intl.DateTimeFormat(language === "ko" ? "ko-KR" : "en-GB", { year: "numeric", month: "long", timeZone: "UTC" })
    .format(new Date(Date.UTC(year, mon - 1, 1)));
  const weekdays = language === "ko" ? WEEKDAYS_KO : WEEKDAYS_EN;
  const dayEvents = byDate.get(selected) ?? [];
  const go = (delta: number) => {
    const next = shiftMonth(month, delta);
    setMonth(next);
    setSelected(next === today.slice(0, 7) ? today : `${next}-01`);
  };

  return (
    <section className="stack" aria-labelledby="calendar-title">
      <div className="row-between">
        <h2 id="calendar-title" className="panel-title">{t("roomTab.calendar")}</h2>
        {isAdmin && <Button onClick={() => setEditing("new")}>{t("calendar.new")}</Button>}
      </div>
      {editing && (
        <EventForm studyId={study.id} event={editing === "new" ? null : editing} defaultDate={selected < today ? today : selected}
          monthEvents={events.data ?? []} onDone={(date) => { setEditing(null); if (date) { setSelected(date); setMonth(date.slice(0, 7)); } }} />
      )}
      <div className="calendar-layout">
        <Card className="calendar">
          <div className="row-between calendar-nav">
            <Button variant="ghost" size="s" onClick={() => go(-1)} aria-label={t("calendar.prev")}>‹</Button>
            <h3 aria-live="polite" className="calendar-month">{monthLabel}</h3>
            <Button variant="ghost" size="s" onClick={() => go(1)} aria-label={t("calendar.next")}>›</Button>
          </div>
          {events.isError ? <p className="error-text" role="alert">{errorText(events.error, t)}</p> : null}
          <table className="month" aria-label={monthLabel}>
            <thead><tr>{weekdays.map((day) => <th key={day} scope="col">{day}</th>)}</tr></thead>
            <tbody>
              {weeks.map((week) => (
                <tr key={week[0]!.date}>
                  {week.map((day) => {
                    const list = byDate.get(day.date) ?? [];
                    const label = `${day.date}${list.length ? `, ${t("calendar.eventCount", { count: list.length })}` : ""}`;
                    // The accessible name starts with the visible day number, then the full date.
                    return (
                      <td key={day.date} data-in-month={day.inMonth} data-today={day.date === today || undefined}>
                        <button type="button" className="day" aria-pressed={day.date === selected}
                          onClick={() => { setSelected(day.date); if (!day.inMonth) setMonth(day.date.slice(0, 7)); }}>
                          <span className="day-num">{Number(day.date.slice(8))}</span>
                          <span className="visually-hidden">{label}</span>
                          <span className="day-dots" aria-hidden="true">
                            {list.slice(0, 3).map((event) => <span key={event.id} className="day-event" style={{ background: event.color, color: readableText(event.color) }}>{event.title}</span>)}
                            {list.length > 3 && <span className="day-more">+{list.length - 3}</span>}
                          </span>
                        </button>
                      </td>
                    );
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </Card>
        <Card className="stack-s" aria-live="polite" role="region" aria-labelledby="calendar-day-title">
          <h3 id="calendar-day-title">{t("calendar.dayTitle", { date: selected })}</h3>
          {events.isPending ? <Skeleton count={2} /> : dayEvents.length === 0 ? <p className="muted">{t("calendar.dayEmpty")}</p> : (
            <ul className="plain-list stack-s">
              {dayEvents.map((event) => (
                <EventItem key={event.id} event={event} studyId={study.id} editable={isAdmin || event.created_by.id === myId}
                  past={event.date < today} onEdit={() => setEditing(event)} />
              ))}
            </ul>
          )}
        </Card>
      </div>
    </section>
  );
}

function EventItem({ event, studyId, editable, past, onEdit }: { event: CalendarEvent; studyId: string; editable: boolean; past: boolean; onEdit: () => void }) {
  const { t } = useI18n();
  const confirm = useConfirm();
  const toast = useToast();
  const remove = useDeleteEvent(studyId);
  const onDelete = async () => {
    if (!(await confirm(t("calendar.deleteConfirm", { title: event.title }), { danger: true, confirmLabel: t("roomUi.delete") }))) return;
    remove.mutate(event.id, { onSuccess: () => toast(t("calendar.deleted")), onError: (error) => toast(errorText(error, t), "error") });
  };
  return (
    <li className="event-item" style={{ borderLeftColor: event.color }}>
      <div className="row-between">
        <strong>{event.title}</strong>
        <span className="small muted">{event.start_time}–{event.end_time}</span>
      </div>
      {event.location && <div className="small">📍 {event.location}</div>}
      {event.description && <p className="small muted pre-line">{event.description}</p>}
      <div className="row-between">
        <span className="small muted">{event.created_by.name}</span>
        {editable && (
          <div className="row">
            {!past && <Button size="s" variant="ghost" onClick={onEdit} aria-label={`${t("roomUi.edit")}: ${event.title}`}>{t("roomUi.edit")}</Button>}
            <Button size="s" variant="ghost" onClick={onDelete} aria-label={`${t("roomUi.delete")}: ${event.title}`}>{t("roomUi.delete")}</Button>
          </div>
        )}
      </div>
    </li>
  );
}

function EventForm({ studyId, event, defaultDate, monthEvents, onDone }: {
  studyId: string; event: CalendarEvent | null; defaultDate: string; monthEvents: CalendarEvent[]; onDone: (date?: string) => void;
}) {
  const { t } = useI18n();
  const toast = useToast();
  const save = useSaveEvent(studyId);
  const [title, setTitle] = useState(event?.title ?? "");
  const [description, setDescription] = useState(event?.description ?? "");
  const [date, setDate] = useState(event?.date ?? defaultDate);
  const [start, setStart] = useState(event?.start_time ?? "19:00");
  const [end, setEnd] = useState(event?.end_time ?? "21:00");
  const [location, setLocation] = useState(event?.location ?? "");
  const [color, setColor] = useState(event?.color ?? DEFAULT_COLOR);
  const errors = fieldErrors(save.error);
  const clash = overlapping(monthEvents, date, start, end, event?.id);
  const timeError = start && end && !(start < end) ? t("calendar.endAfterStart") : null;
  const submit = (formEvent: FormEvent) => {
    formEvent.preventDefault();
    if (timeError) return;
    save.mutate({ id: event?.id, body: { title: title.trim(), description: description.trim(), date, start_time: start,
      end_time: end, location: location.trim(), color: color.toUpperCase() } }, {
      onSuccess: (saved) => {
        toast(t(event ? "calendar.saved" : "calendar.created"));
        // The server's overlap warning stays visible after saving (COUP.md §7.10).
        if (saved.warning) toast(saved.warning, "error");
        onDone(saved.date);
      },
      onError: (error) => { if (!Object.keys(fieldErrors(error)).length) toast(errorText(error, t), "error"); },
    });
  };
  return (
    <Card>
      <form className="stack" onSubmit={submit} aria-labelledby="event-form-title">
        <h3 id="event-form-title">{t(event ? "calendar.editTitle" : "calendar.new")}</h3>
        <TextField label={t("calendar.title")} value={title} onChange={(e) => setTitle(e.target.value)} required minLength={2} maxLength={100} error={errors.title} autoFocus />
        <div className="form-row">
          <TextField label={t("calendar.date")} type="date" value={date} onChange={(e) => setDate(e.target.value)} required error={errors.date} />
          <TextField label={t("calendar.start")} type="time" value={start} onChange={(e) => setStart(e.target.value)} required error={errors.start_time} />
          <TextField label={t("calendar.end")} type="time" value={end} onChange={(e) => setEnd(e.target.value)} required error={errors.end_time ?? timeError} />
        </div>
        {clash.length > 0 && (
          <p className="warning-box" role="status">⚠️ {t("calendar.overlapWarning", { titles: clash.map((item) => item.title).join(", ") })}</p>
        )}
        <div className="form-row">
          <TextField label={t("calendar.location")} value={location} onChange={(e) => setLocation(e.target.value)} maxLength={200} error={errors.location} />
          <TextField label={t("calendar.color")} type="color" value={color} onChange={(e) => setColor(e.target.value)} error={errors.color} />
        </div>
        <TextArea label={t("calendar.description")} value={description} onChange={(e) => setDescription(e.target.value)} maxLength={1000} error={errors.description} />
        {save.error && !Object.keys(errors).length ? <p className="error-text" role="alert">{errorText(save.error, t)}</p> : null}
        <div className="row">
          <Button type="submit" busy={save.isPending}>{t(event ? "roomUi.save" : "calendar.create")}</Button>
          <Button variant="secondary" onClick={() => onDone()}>{t("app.cancel")}</Button>
        </div>
      </form>
    </Card>
  );
}

