import { A } from "@pairwatch/contracts";
console.log(A);
