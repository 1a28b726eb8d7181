export function Skeleton({ height = 16, width = "100%", count = 1 }: { height?: number; width?: number | string; count?: number }) {
  return (
    <div className="stack-s" aria-hidden="true">
      {Array.from({ length: count }, (_, index) => <div key={index} className="skeleton" style={{ height, width }} />)}
    </div>
  );
}
