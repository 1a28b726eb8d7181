import { useState, type FormEvent } from "react";
import { Button, Card, SelectField, TextArea, useToast } from "../../components/ui";
import { errorText, fieldErrors } from "../../lib/errors";
import { useI18n, type MessageKey } from "../../lib/i18n";
import type { Study } from "../../lib/types";
import { useJoin } from "./api";

const MOTIVATIONS = ["JOB_PREP", "SKILL_UP", "NETWORKING", "CERTIFICATION", "OTHER"];
const LEVELS = ["INTRO", "BEGINNER", "INTERMEDIATE", "ADVANCED"];

export function ApplyForm({ study }: { study: Study }) {
  const { t } = useI18n();
  const toast = useToast();
  const join = useJoin(study.id);
  const [introduction, setIntroduction] = useState("");
  const [motivation, setMotivation] = useState("");
  const [level, setLevel] = useState("");
  const fields = fieldErrors(join.error);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    join.mutate({ introduction: introduction || undefined, motivation: motivation || undefined, level: level || undefined }, {
      onSuccess: (result) => toast(t(result.auto_approved ? "detail.joined" : "detail.applied")),
    });
  };
  return (
    <Card>
      <form className="stack" onSubmit={submit} aria-labelledby="apply-title">
        <h2 id="apply-title">{t("detail.applyTitle")}</h2>
        <TextArea label={t("detail.introduction")} hint={t("detail.introductionHint")} maxLength={300} value={introduction}
          onChange={(event) => setIntroduction(event.target.value)} error={fields.introduction} />
        <SelectField label={t("detail.motivation")} value={motivation} onChange={(event) => setMotivation(event.target.value)}>
          <option value="">{t("detail.choose")}</option>
          {MOTIVATIONS.map((value) => <option key={value} value={value}>{t(`motivation.${value}` as MessageKey)}</option>)}
        </SelectField>
        <SelectField label={t("detail.level")} value={level} onChange={(event) => setLevel(event.target.value)}>
          <option value="">{t("detail.choose")}</option>
          {LEVELS.map((value) => <option key={value} value={value}>{t(`level.${value}` as MessageKey)}</option>)}
        </SelectField>
        {join.error && <p className="error-text" role="alert">{errorText(join.error, t)}</p>}
        <Button type="submit" block busy={join.isPending}>{t(study.auto_approve ? "detail.join" : "detail.apply")}</Button>
      </form>
    </Card>
  );
}
