import { useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import { Button, Card, Checkbox, SelectField, TextArea, TextField, useToast } from "../../components/ui";
import { useConfig } from "../../lib/config";
import { errorText, fieldErrors } from "../../lib/errors";
import { useI18n } from "../../lib/i18n";
import { useCategories, useCreateStudy } from "./api";
import { useCategoryLabel } from "./category-label";

export function CreateStudyPage() {
  const { t } = useI18n();
  const navigate = useNavigate();
  const toast = useToast();
  const categories = useCategories().data ?? [];
  const categoryLabel = useCategoryLabel();
  const maxAllowed = useConfig().data?.max_study_members ?? 20;
  const create = useCreateStudy();
  const [form, setForm] = useState({ name: "", emoji: "📚", description: "", category: "개발", sub_category: "",
    tags: "", max_members: 10, is_public: true, auto_approve: false });
  const fields = fieldErrors(create.error);
  const subCategories = categories.find((category) => category.value === form.category)?.sub_categories ?? [];
  const set = <K extends keyof typeof form>(key: K, value: (typeof form)[K]) => setForm((current) => ({ ...current, [key]: value }));

  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate({
      name: form.name, emoji: form.emoji, description: form.description, category: form.category,
      sub_category: form.sub_category || null, max_members: form.max_members, is_public: form.is_public,
      auto_approve: form.auto_approve, tags: form.tags.split(",").map((tag) => tag.trim()).filter(Boolean),
    }, { onSuccess: (study) => { toast(t("create.created")); navigate(`/studies/${study.id}`); } });
  };

  return (
    <div className="page page-medium">
      <Card>
        <form className="stack" onSubmit={submit}>
          <h1>{t("create.title")}</h1>
          <div className="form-row">
            <TextField label={t("create.emoji")} value={form.emoji} maxLength={16} required onChange={(event) => set("emoji", event.target.value)} error={fields.emoji} />
            <TextField label={t("create.name")} hint={t("create.nameHint")} value={form.name} maxLength={50} required
              onChange={(event) => set("name", event.target.value)} error={fields.name} />
          </div>
          <TextArea label={t("create.description")} hint={t("create.descriptionHint")} value={form.description} maxLength={500} required
            onChange={(event) => set("description", event.target.value)} error={fields.description} />
          <div className="form-row">
            <SelectField label={t("studies.category")} value={form.category}
              onChange={(event) => setForm((current) => ({ ...current, category: event.target.value, sub_category: "" }))}>
              {categories.map((category) => <option key={category.value} value={category.value}>{categoryLabel(category.value)}</option>)}
            </SelectField>
            {subCategories.length > 0 && (
              <SelectField label={t("create.subCategory")} value={form.sub_category} onChange={(event) => set("sub_category", event.target.value)}>
                <option value="">{t("detail.choose")}</option>
                {subCategories.map((sub) => <option key={sub.value} value={sub.value}>{sub.value}</option>)}
              </SelectField>
            )}
          </div>
          <div className="form-row">
            <TextField label={t("create.tags")} hint={t("create.tagsHint")} value={form.tags} onChange={(event) => set("tags", event.target.value)} error={fields.tags} />
            <TextField label={t("create.maxMembers")} type="number" min={2} max={maxAllowed} value={form.max_members}
              onChange={(event) => set("max_members", Number(event.target.value))} error={fields.max_members} />
          </div>
          <Checkbox label={t("create.isPublic")} checked={form.is_public} onChange={(event) => set("is_public", event.target.checked)} />
          <Checkbox label={t("create.autoApprove")} checked={form.auto_approve} onChange={(event) => set("auto_approve", event.target.checked)} />
          {create.error && <p className="error-text" role="alert">{errorText(create.error, t)}</p>}
          <Button type="submit" busy={create.isPending}>{t("create.submit")}</Button>
        </form>
      </Card>
    </div>
  );
}
