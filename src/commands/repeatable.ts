/** commander's argument parser for an option that may be given several times (--set a --set b). */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
