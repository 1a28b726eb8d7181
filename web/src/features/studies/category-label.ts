import { useI18n } from "../../lib/i18n";
import { useCategories } from "./api";

/** Categories are stored in Korean (COUP.md §7.3); English shows the server's label_en. */
export function useCategoryLabel(): (value: string) => string {
  const { language } = useI18n();
  const categories = useCategories().data ?? [];
  return (value) => {
    if (language === "ko") return value;
    const found = categories.find((category) => category.value === value);
    return found?.label_en ?? value;
  };
}
