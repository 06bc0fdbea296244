// Bounded memo of piece → token ids. Natural text repeats the same words constantly, so most pieces are served from
// here; the cap keeps adversarial input (millions of distinct pieces) from growing memory without bound.
export class PieceCache {
  private map = new Map<string, number[]>();

  constructor(private readonly maxEntries = 50_000) {}

  get(piece: string): number[] | undefined {
    return this.map.get(piece);
  }

  set(piece: string, ids: number[]): void {
    if (this.map.size >= this.maxEntries) this.map.clear();
    this.map.set(piece, ids);
  }
}
