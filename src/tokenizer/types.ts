/** A loaded tokenizer: text → token ids. Special tokens in user text are treated as ordinary text. */
export interface Encoding {
  readonly name: string;
  encode(text: string): number[];
  count(text: string): number;
}
