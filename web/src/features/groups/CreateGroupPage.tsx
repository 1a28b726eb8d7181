import { useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import { Button, Card, Checkbox, SelectField, TextArea, TextField, useToast } from "../../components/ui";
import { errorText, fieldErrors } from "../../lib/errors";
import { useI18n, type MessageKey } from "../../lib/i18n";
import { GROUP_CATEGORIES, useCreateGroup } from "./api";
import "../../styles/pages.css";

export function CreateGroupPage() {
  const { t } = useI18n();
  const toast = useToast();
  const navigate = useNavigate();
  const create = useCreateGroup();
  const [form, setForm] = useState({ name: "", description: "", category: "STUDY", tags: "", max_members: 50, is_public: true, is_recruiting: true });
  const errors = fieldErrors(create.error);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate({
      name: form.name, description: form.description || null, category: form.category, max_members: Number(form.max_members),
      tags: form.tags.split(",").map((tag) => tag.trim()).filter(Boolean), is_public: form.is_public, is_recruiting: form.is_recruiting,
    }, { onSuccess: (group) => { toast(t("groups.created")); navigate(`/groups/${group.id}`); } });
  };
  return (
    <div className="page page-medium">
      <Card>
        <form className="stack" onSubmit={submit} noValidate>
          <h1>{t("groups.create")}</h1>
          <TextField label={t("groups.name")} value={form.name} onChange={(event) => setForm({ ...form, name: event.target.value })} maxLength={50} required
            hint={t("groups.nameHint")} error={errors.name ?? null} />
          <TextArea label={t("groups.description")} value={form.description} onChange={(event) => setForm({ ...form, description: event.target.value })} maxLength={1000}
            error={errors.description ?? null} />
          <div className="form-row">
            <SelectField label={t("studies.category")} value={form.category} onChange={(event) => setForm({ ...form, category: event.target.value })}>
              {GROUP_CATEGORIES.map((category) => <option key={category} value={category}>{t(`groups.category.${category}` as MessageKey)}</option>)}
            </SelectField>
            <TextField label={t("create.maxMembers")} type="number" min={2} max={200} value={form.max_members}
              onChange={(event) => setForm({ ...form, max_members: Number(event.target.value) })} error={errors.max_members ?? null} />
          </div>
          <TextField label={t("create.tags")} value={form.tags} onChange={(event) => setForm({ ...form, tags: event.target.value })} hint={t("create.tagsHint")}
            error={Object.entries(errors).find(([key]) => key.startsWith("tags"))?.[1] ?? null} />
          <Checkbox label={t("groups.isPublic")} checked={form.is_public} onChange={(event) => setForm({ ...form, is_public: event.target.checked })} />
          <Checkbox label={t("groups.isRecruiting")} checked={form.is_recruiting} onChange={(event) => setForm({ ...form, is_recruiting: event.target.checked })} />
          {create.error && !Object.keys(errors).length && <p className="error-text" role="alert">{errorText(create.error, t)}</p>}
          <Button type="submit" busy={create.isPending} disabled={!form.name.trim()}>{t("groups.createSubmit")}</Button>
        </form>
      </Card>
    </div>
  );
}
