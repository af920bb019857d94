// The page scripts' words in the page's language: the catalog the gateway serves at the
// address in <meta name="ponte-catalog"> (gateway/i18n.py, built from the same gettext
// catalogs as the pages). t('Last seen {ago}', { ago }) looks the English text up and fills
// its {placeholders}; a text missing from the catalog (or no catalog) is shown in English.
// Keys must be plain string literals: `pybabel extract` finds them (babel.cfg).
const address = document.querySelector('meta[name="ponte-catalog"]')?.content;
let catalog = {};
if (address) {
  try {
    const r = await fetch(address, { credentials: 'same-origin' });
    if (r.ok) catalog = await r.json();
  } catch { /* English, then */ }
}

/** The page's language, as on <html lang>. */
export const lang = document.documentElement.lang || 'en';

/** The translation of `key`, its {name} placeholders filled from `values`. */
export function t(key, values = {}) {
  const text = Object.hasOwn(catalog, key) ? catalog[key] : key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (Object.hasOwn(values, name) ? String(values[name]) : whole));
}
