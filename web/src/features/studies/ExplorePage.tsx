import { useEffect, useRef, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { Button, EmptyState, SelectField, Skeleton, TextField } from "../../components/ui";
import { errorText } from "../../lib/errors";
import { useI18n } from "../../lib/i18n";
import { useCategories, useExplore, type ExploreFilters } from "./api";
import { useCategoryLabel } from "./category-label";
import { StudyCard } from "./StudyCard";

const SEARCH_DEBOUNCE_MS = 300;

export function ExplorePage() {
  const { t } = useI18n();
  const [params, setParams] = useSearchParams();
  const filters: ExploreFilters = {
    search: params.get("q") ?? "", category: params.get("category") ?? "",
    recruiting: params.get("recruiting") ?? "all", sort: params.get("sort") ?? "latest",
  };
  const [searchText, setSearchText] = useState(filters.search);
  const categories = useCategories().data ?? [];
  const categoryLabel = useCategoryLabel();
  const explore = useExplore(filters);
  const sentinel = useRef<HTMLDivElement>(null);

  const update = (key: string, value: string) => {
    const next = new URLSearchParams(params);
    if (value && !(key === "recruiting" && value === "all") && !(key === "sort" && value === "latest")) next.set(key, value);
    else next.delete(key);
    setParams(next, { replace: true });
  };

  useEffect(() => {
    if (searchText === filters.search) return;
    const timer = setTimeout(() => update("q", searchText), SEARCH_DEBOUNCE_MS);
    return () => clearTimeout(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [searchText]);

  const { hasNextPage, isFetchingNextPage, fetchNextPage } = explore;
  useEffect(() => {
    const node = sentinel.current;
    if (!node || !hasNextPage) return;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting) && !isFetchingNextPage) fetchNextPage();
    }, { rootMargin: "400px" });
    observer.observe(node);
    return () => observer.disconnect();
  }, [hasNextPage, isFetchingNextPage, fetchNextPage]);

  const studies = explore.data?.pages.flatMap((page) => page.data) ?? [];
  const total = explore.data?.pages[0]?.pagination.total;

  return (
    <div className="page">
      <div className="row-between">
        <h1>{t("studies.exploreTitle")}</h1>
        <Link className="btn btn-primary" to="/studies/new">{t("studies.create")}</Link>
      </div>
      <form className="filters" role="search" onSubmit={(event) => { event.preventDefault(); update("q", searchText); }}>
        <TextField label={t("studies.search")} type="search" placeholder={t("studies.searchPlaceholder")} value={searchText}
          onChange={(event) => setSearchText(event.target.value)} maxLength={50} />
        <SelectField label={t("studies.category")} value={filters.category} onChange={(event) => update("category", event.target.value)}>
          <option value="">{t("studies.allCategories")}</option>
          {categories.map((category) => <option key={category.value} value={category.value}>{categoryLabel(category.value)}</option>)}
        </SelectField>
        <SelectField label={t("studies.recruiting")} value={filters.recruiting} onChange={(event) => update("recruiting", event.target.value)}>
          <option value="all">{t("studies.recruitingAll")}</option>
          <option value="recruiting">{t("studies.recruitingOpen")}</option>
          <option value="closed">{t("studies.recruitingClosed")}</option>
        </SelectField>
        <SelectField label={t("studies.sort")} value={filters.sort} onChange={(event) => update("sort", event.target.value)}>
          <option value="latest">{t("studies.sortLatest")}</option>
          <option value="popular">{t("studies.sortPopular")}</option>
        </SelectField>
      </form>
      <p className="muted" aria-live="polite">{total !== undefined ? t("studies.resultCount", { count: total }) : ""}</p>
      {explore.isPending ? (
        <div className="grid-cards">{Array.from({ length: 6 }, (_, index) => <div key={index} className="card"><Skeleton count={4} /></div>)}</div>
      ) : explore.isError ? (
        <EmptyState icon="⚠️" title={errorText(explore.error, t)} action={<Button onClick={() => explore.refetch()}>{t("app.retry")}</Button>} />
      ) : studies.length === 0 ? (
        <EmptyState icon="🔍" title={t("studies.emptyTitle")} body={t("studies.emptyBody")}
          action={<Link className="btn btn-primary" to="/studies/new">{t("studies.create")}</Link>} />
      ) : (
        <>
          <ul className="grid-cards plain-list" aria-label={t("studies.exploreTitle")}>
            {studies.map((study) => <li key={study.id}><StudyCard study={study} /></li>)}
          </ul>
          <div ref={sentinel} className="load-more">
            {hasNextPage
              ? <Button variant="secondary" busy={isFetchingNextPage} onClick={() => fetchNextPage()}>{t("studies.loadMore")}</Button>
              : <p className="muted">{t("studies.end")}</p>}
          </div>
        </>
      )}
    </div>
  );
}
