import { useDeferredValue, useState } from "react";
import { Link } from "react-router";
import { Badge, Button, Card, EmptyState, SelectField, Skeleton, Tabs, TextField } from "../../components/ui";
import { errorText } from "../../lib/errors";
import { useI18n, type MessageKey } from "../../lib/i18n";
import { GROUP_CATEGORIES, useGroups, type GroupFilters } from "./api";
import "../../styles/pages.css";

/** Browse and search community groups; "mine" lists the person's own. */
export function GroupsPage() {
  const { t } = useI18n();
  const [filters, setFilters] = useState<GroupFilters>({ search: "", category: "", sort: "latest", mine: false });
  const deferred = useDeferredValue(filters);
  const groups = useGroups(deferred);
  const items = groups.data?.pages.flatMap((page) => page.data) ?? [];
  return (
    <div className="page">
      <div className="row-between">
        <h1>{t("groups.title")}</h1>
        <Link className="btn btn-primary" to="/groups/new">{t("groups.create")}</Link>
      </div>
      <Tabs label={t("groups.title")} controls="group-list" selected={filters.mine ? "mine" : "all"}
        items={[{ key: "all", label: t("groups.tabAll") }, { key: "mine", label: t("groups.tabMine") }]}
        onSelect={(key) => setFilters((current) => ({ ...current, mine: key === "mine" }))} />
      <div className="filters filters-3">
        <TextField label={t("studies.search")} type="search" placeholder={t("groups.searchPlaceholder")} value={filters.search}
          onChange={(event) => setFilters((current) => ({ ...current, search: event.target.value }))} />
        <SelectField label={t("studies.category")} value={filters.category} onChange={(event) => setFilters((current) => ({ ...current, category: event.target.value }))}>
          <option value="">{t("studies.allCategories")}</option>
          {GROUP_CATEGORIES.map((category) => <option key={category} value={category}>{t(`groups.category.${category}` as MessageKey)}</option>)}
        </SelectField>
        <SelectField label={t("studies.sort")} value={filters.sort} onChange={(event) => setFilters((current) => ({ ...current, sort: event.target.value }))}>
          <option value="latest">{t("studies.sortLatest")}</option>
          <option value="popular">{t("studies.sortPopular")}</option>
        </SelectField>
      </div>
      <div id="group-list" role="tabpanel" className="tab-panel">
        {groups.isPending ? <div className="grid-cards">{[0, 1, 2].map((index) => <Card key={index}><Skeleton count={3} /></Card>)}</div> : groups.isError ? (
          <EmptyState icon="⚠️" title={errorText(groups.error, t)} action={<Button onClick={() => groups.refetch()}>{t("app.retry")}</Button>} />
        ) : items.length === 0 ? (
          <EmptyState icon="👥" title={t(filters.mine ? "groups.emptyMine" : "groups.emptyTitle")} body={t("groups.emptyBody")}
            action={<Link className="btn btn-primary" to="/groups/new">{t("groups.create")}</Link>} />
        ) : (
          <ul className="grid-cards plain-list">
            {items.map((group) => (
              <li key={group.id}>
                <Link className="card-link" to={`/groups/${group.id}`}>
                  <Card className="study-card">
                    <div className="stack-s">
                      <h2 className="study-name">{group.name}</h2>
                      <div className="row row-tight">
                        <Badge tone="primary">{t(`groups.category.${group.category}` as MessageKey)}</Badge>
                        {!group.is_public && <Badge tone="warning">{t("studies.private")}</Badge>}
                        <Badge tone={group.is_recruiting ? "success" : "neutral"}>{t(group.is_recruiting ? "studies.recruitingOpen" : "studies.recruitingClosed")}</Badge>
                        {group.my_role && <Badge>{t(`groups.role.${group.my_role}` as MessageKey)}</Badge>}
                      </div>
                    </div>
                    {group.description && <p className="study-desc">{group.description}</p>}
                    <p className="muted study-meta">{t("studies.members", { current: group.current_members, max: group.max_members })}</p>
                  </Card>
                </Link>
              </li>
            ))}
          </ul>
        )}
        {groups.hasNextPage && (
          <div className="load-more"><Button variant="secondary" busy={groups.isFetchingNextPage} onClick={() => groups.fetchNextPage()}>{t("studies.loadMore")}</Button></div>
        )}
      </div>
    </div>
  );
}
