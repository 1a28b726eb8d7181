import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { en } from "./en";
import { ko, type MessageKey } from "./ko";

export type Language = "ko" | "en";
export type { MessageKey };
export type Translate = (key: MessageKey, vars?: Record<string, string | number>) => string;

const CATALOGUES: Record<Language, Record<MessageKey, string>> = { ko, en };
const STORAGE_KEY = "coup.language";

export function isMessageKey(key: string): key is MessageKey {
  return Object.prototype.hasOwnProperty.call(ko, key);
}

export function translate(language: Language, key: MessageKey, vars?: Record<string, string | number>): string {
  const template = CATALOGUES[language][key] ?? ko[key];
  if (!vars) return template;
  return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in vars ? String(vars[name]) : whole);
}

function initialLanguage(): Language {
  // Korean first: English only when the person chose it.
  const stored = typeof localStorage !== "undefined" ? localStorage.getItem(STORAGE_KEY) : null;
  return stored === "en" ? "en" : "ko";
}

interface I18nValue { language: Language; setLanguage: (language: Language) => void; t: Translate }

const I18nContext = createContext<I18nValue | null>(null);

export function I18nProvider({ children }: { children: ReactNode }) {
  const [language, setLanguageState] = useState<Language>(initialLanguage);
  const setLanguage = useCallback((next: Language) => {
    localStorage.setItem(STORAGE_KEY, next);
    setLanguageState(next);
  }, []);
  useEffect(() => { document.documentElement.lang = language; }, [language]);
  const value = useMemo<I18nValue>(() => ({
    language, setLanguage, t: (key, vars) => translate(language, key, vars),
  }), [language, setLanguage]);
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

export function useI18n(): I18nValue {
  const value = useContext(I18nContext);
  if (!value) throw new Error("useI18n outside I18nProvider");
  return value;
}
