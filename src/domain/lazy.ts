/** A value computed when it is first read, then kept; copies of what holds it share it. */
export class Lazy<T> {
  private result: T | undefined;

  constructor(private make: (() => T) | undefined) {}

  get value(): T {
    if (this.make) {
      this.result = this.make();
      this.make = undefined;
    }
    return this.result as T;
  }
}
