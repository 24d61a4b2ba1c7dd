/**
 * A virtualised list: only the rows in view (plus a margin) are in the DOM, so thousands of
 * sessions scroll smoothly. Rows have a fixed height; `onNearEnd` lets the owner load the next
 * page of a server-paged list.
 */
import { h } from "./dom";

export interface VirtualList<T> {
  element: HTMLElement;
  set(items: T[]): void;
}

export function virtualList<T>(
  rowHeight: number,
  render: (item: T, index: number) => HTMLElement,
  label: string,
  /** Called when the rows in view come within a screen of the end (to load the next page). */
  onNearEnd?: () => void,
): VirtualList<T> {
  let items: T[] = [];
  const spacer = h("div", { class: "vl-spacer" });
  const viewport = h("div", { class: "vl-viewport", role: "list", "aria-label": label, tabindex: 0 }, spacer);
  const draw = (): void => {
    spacer.style.height = `${items.length * rowHeight}px`;
    const first = Math.max(0, Math.floor(viewport.scrollTop / rowHeight) - 10);
    const last = Math.min(
      items.length,
      Math.ceil((viewport.scrollTop + viewport.clientHeight) / rowHeight) + 10,
    );
    spacer.replaceChildren();
    for (let i = first; i < last; i++) {
      const row = render(items[i] as T, i);
      row.setAttribute("role", "listitem");
      row.style.position = "absolute";
      row.style.top = `${i * rowHeight}px`;
      row.style.height = `${rowHeight}px`;
      spacer.append(row);
    }
    if (onNearEnd && items.length > 0 && last >= items.length - 20) onNearEnd();
  };
  viewport.addEventListener("scroll", () => requestAnimationFrame(draw));
  new ResizeObserver(draw).observe(viewport);
  return {
    element: viewport,
    set(next) {
      items = next;
      draw();
    },
  };
}
