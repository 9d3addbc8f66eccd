// A service descriptor paired with its Connect-shaped implementation: the unit
// both engines (connect-node, grpc-js) mount, so handlers are written once.
import type { DescService } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";

export interface MountedService<S extends DescService = DescService> {
  readonly service: S;
  readonly impl: Partial<ServiceImpl<S>>;
}

/**
 * Pairs a service with its implementation, checked against the generated
 * types, and erases them so services of different types fit in one list.
 * (Function parameters are contravariant, so `MountedService<typeof Health>`
 * is not assignable to `MountedService<DescService>` without this.)
 */
export function mount<S extends DescService>(service: S, impl: Partial<ServiceImpl<S>>): MountedService {
  return { service, impl } as unknown as MountedService;
}
