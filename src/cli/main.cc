#include <iostream>

int main() {
  std::cout << "chalkbot\n";
  return 0;
}
