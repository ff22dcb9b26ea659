/**
 * The page's only "framework": build elements from a tag, attributes and children. Text always
 * goes in as text nodes (never innerHTML), so nothing an API answer holds can become markup.
 */
export type Child = Node | string | number | null | undefined | false | Child[];
type Attr = string | number | boolean | null | undefined | ((e: Event) => void);

/** `on<event>` props are listeners; `true` is an empty (boolean) attribute; null, undefined and false are left out. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props?: Record<string, Attr> | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  append(el, children);
  for (const [k, v] of Object.entries(props ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.slice(2), v);
    // A select's value can be set only once its options are in it (they are: children come first).
    else if (k === 'value') (el as HTMLInputElement).value = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  return el;
}

export function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
}

export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/** A definition list of label → value rows, leaving out rows whose value is absent. */
export function facts(rows: [string, Child][], cls = 'facts'): HTMLDListElement {
  return h(
    'dl',
    { class: cls },
    rows.filter(([, v]) => v !== undefined && v !== null && v !== '').map(([k, v]) => h('div', null, h('dt', null, k), h('dd', null, v))),
  );
}

let ids = 0;
export const uid = (prefix: string) => `${prefix}-${++ids}`;
