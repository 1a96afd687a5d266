// Cursor pagination of every list route (`?limit=&cursor=` → `{<items>: [...], nextCursor}`):
// `for await (const x of client.instances.list())` walks every page; `.page()` fetches one.

/** One page of a list. */
export interface Page<Item> {
  items: Item[];
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

/** What `list()` returns: iterate it for every item of every page, or ask for one page. */
export class PageIterator<Item> implements AsyncIterable<Item> {
  constructor(
    private readonly fetchPage: (cursor: string | undefined) => Promise<Page<Item>>,
    private readonly startCursor?: string | undefined,
  ) {}

  /** The page at the `cursor` given to `list()` (the first page without one). */
  page(): Promise<Page<Item>> {
    return this.fetchPage(this.startCursor);
  }

  /** Every page in turn, following `nextCursor` until it is null. */
  async *pages(): AsyncGenerator<Page<Item>, void, undefined> {
    let cursor = this.startCursor;
    const seen = new Set<string>();
    for (;;) {
      const page = await this.fetchPage(cursor);
      yield page;
      if (!page.nextCursor || seen.has(page.nextCursor)) return;
      seen.add(page.nextCursor);
      cursor = page.nextCursor;
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Item, void, undefined> {
    for await (const page of this.pages()) yield* page.items;
  }

  /** Every item of every page, in one array. */
  async toArray(): Promise<Item[]> {
    const all: Item[] = [];
    for await (const item of this) all.push(item);
    return all;
  }
}
