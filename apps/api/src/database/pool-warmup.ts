import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

/**
 * Opens the pool's connections at start (they then stay open: data-source.ts), rather than one by one under
 * the first burst of work, each a backend forked and authenticated on the path of an alert's claim or send.
 */
@Injectable()
export class PoolWarmup implements OnApplicationBootstrap {
  private readonly logger = new Logger(PoolWarmup.name);

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async onApplicationBootstrap(): Promise<void> {
    const size = (this.dataSource.options.extra as { max?: number } | undefined)?.max ?? 10;
    await this.open(size).catch((error: Error) =>
      this.logger.warn(`the database pool was not opened ahead: ${error.message}`),
    );
  }

  /** Opens `connections` of the pool: queries side by side, each holding its connection until all are open. */
  async open(connections: number): Promise<void> {
    let opened = 0;
    let allOpen!: () => void;
    const all = new Promise<void>((resolve) => (allOpen = resolve));
    const timer = setTimeout(() => allOpen(), 5_000);
    try {
      await Promise.all(
        Array.from({ length: connections }, () =>
          this.dataSource.transaction(async (manager) => {
            await manager.query('SELECT 1');
            if (++opened === connections) allOpen();
            await all;
          }),
        ),
      );
    } finally {
      clearTimeout(timer);
    }
  }
}
