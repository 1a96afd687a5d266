// The one place list routes are turned into PageIterators.
import type { HttpClient, RequestOptions } from '../core.js';
import { PageIterator } from '../pagination.js';

type Query = Record<string, string | number | boolean | null | undefined>;

/** `GET path?…&limit=&cursor=` → `{ [key]: Item[], nextCursor }`, page after page. */
export function paginate<Item, Body extends { nextCursor?: string | null }>(
  http: HttpClient,
  path: string,
  params: (Query & { cursor?: string | undefined }) | undefined,
  options: RequestOptions | undefined,
  items: (body: Body) => Item[],
): PageIterator<Item> {
  return new PageIterator<Item>(async (cursor) => {
    const body = await http.json<Body>({ method: 'GET', path, query: { ...params, cursor }, options });
    return { items: items(body), nextCursor: body.nextCursor ?? null };
  }, params?.cursor);
}

/** A path segment, escaped. */
export const seg = (s: string): string => encodeURIComponent(s);
